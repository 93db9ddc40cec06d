package audit_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/tokenhook/tokenhook/server/audit"
)

// A sign-in, logged as one JSON line naming the viewer by subject hash.
func ExampleLog_Record() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time so the output is stable.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	log := audit.New(slog.New(h), "https://idp.example")
	log.Record(context.Background(), audit.SignIn, "user-1234", slog.Bool("popup", false))
	// Output:
	// {"level":"INFO","msg":"audit","audit":"sign_in","subject":"6bc3709ed7267398","popup":false}
}
