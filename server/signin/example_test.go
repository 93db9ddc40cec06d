package signin_test

import (
	"fmt"

	"github.com/tokenhook/tokenhook/server/signin"
)

func ExampleSafeRedirect() {
	fmt.Println(signin.SafeRedirect("/dash/?tab=2"))
	fmt.Println(signin.SafeRedirect("//evil.example/steal"))
	fmt.Println(signin.SafeRedirect("https://evil.example/"))
	// Output:
	// /dash/?tab=2
	// /
	// /
}
