package e2e_test

import (
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// TestWebSocketClosedOnSignOut (issue 10, defect 6): a page's WebSocket,
// authenticated by the session cookie, is closed by tokenhook with code 4401
// and a reason the moment the viewer signs out; before, the browser saw the
// connection survive (and at best a 1006 much later).
func TestWebSocketClosedOnSignOut(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true})
	e.Mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil) // checks Origin against Host: tokenhook preserves Host
		if err != nil {
			return
		}
		defer ws.CloseNow()
		// Answer the page's first message, then wait for the end.
		if typ, msg, err := ws.Read(r.Context()); err == nil {
			ws.Write(r.Context(), typ, msg)
			ws.Read(r.Context())
		}
	})
	e.page("/live", "", `<p>live</p>`)
	tab := e.signedInTab(t, "/live")
	got := browsertest.Eval[string](tab, `new Promise(function (resolve) {
		var ws = new WebSocket("ws://" + location.host + "/ws");
		var timer = setTimeout(function () { resolve("still open after 10 s"); }, 10000);
		ws.onclose = function (ev) { clearTimeout(timer); resolve(ev.code + " " + ev.reason); };
		ws.onmessage = function () { TokenHook.signOut(); };
		ws.onopen = function () { ws.send("hello"); };
	})`)
	if got != "4401 session ended" {
		t.Fatalf("the page's WebSocket: %s, want 4401 session ended", got)
	}
}
