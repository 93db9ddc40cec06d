package handover_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/tokenhook/tokenhook/server/handover"
)

func ExampleIsFrameNavigation() {
	r := httptest.NewRequest("GET", "/dashboard/", nil)
	r.Header.Set("Sec-Fetch-Dest", "iframe")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	fmt.Println(handover.IsFrameNavigation(r))
	// Output: true
}
