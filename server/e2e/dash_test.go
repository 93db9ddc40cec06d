package e2e_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// dashFixture is the npm fixture with the pinned Dash renderer.
const dashFixture = "testdata/dash"

// dashScripts are the renderer and its peers, in load order, as paths inside
// the fixture.
var dashScripts = []string{
	"node_modules/react/umd/react.production.min.js",
	"node_modules/react-dom/umd/react-dom.production.min.js",
	"node_modules/prop-types/prop-types.min.js",
	"node_modules/dash-renderer/build/dash_renderer.min.js",
	"node_modules/dash-html-components/dash_html_components/dash_html_components.min.js",
}

// needDashFixture skips (or, in CI, fails) when `npm ci` has not run in the
// fixture.
func needDashFixture(t *testing.T) {
	t.Helper()
	for _, s := range dashScripts {
		_, err := os.Stat(filepath.Join(dashFixture, s))
		testenv.Need(t, "the Dash fixture (run `make npm`)", err)
	}
}

// dashLayout is a button and a div whose text a server callback sets.
const dashLayout = `{"type": "Div", "namespace": "dash_html_components", "props": {"id": "root", "children": [
  {"type": "Button", "namespace": "dash_html_components", "props": {"id": "btn", "n_clicks": 0, "children": "Count"}},
  {"type": "Div", "namespace": "dash_html_components", "props": {"id": "out", "children": "loading"}}
]}}`

const dashDependencies = `[{"output": "out.children", "inputs": [{"id": "btn", "property": "n_clicks"}], "state": [],
  "clientside_function": null, "prevent_initial_call": false}]`

// dashApp is a Go backend speaking the Dash renderer's three endpoints. The
// callback answers "clicks: N". reject, when set, decides whether an update
// request is refused with 401 "JWT Expired"; it runs under mu.
type dashApp struct {
	e      *env
	rec    *recorder
	mu     sync.Mutex
	reject func(clicks int, auth string) bool
}

// clicksOf reads n_clicks from an update request body.
func clicksOf(body string) (int, error) {
	var req struct {
		Inputs []struct {
			ID       string `json:"id"`
			Property string `json:"property"`
			Value    *int   `json:"value"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return 0, err
	}
	if len(req.Inputs) != 1 || req.Inputs[0].ID != "btn" || req.Inputs[0].Property != "n_clicks" {
		return 0, fmt.Errorf("unexpected inputs in %s", body)
	}
	if req.Inputs[0].Value == nil {
		return 0, nil
	}
	return *req.Inputs[0].Value, nil
}

func (d *dashApp) mount() {
	m := d.e.Mux
	m.Handle("GET /_dash-layout", api(d.rec, "", func(w http.ResponseWriter, r *http.Request, h hit) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, dashLayout)
	}))
	m.Handle("GET /_dash-dependencies", api(d.rec, "", func(w http.ResponseWriter, r *http.Request, h hit) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, dashDependencies)
	}))
	m.Handle("POST /_dash-update-component", api(d.rec, "", func(w http.ResponseWriter, r *http.Request, h hit) {
		n, err := clicksOf(h.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		reject := h.Auth == "" || (d.reject != nil && d.reject(n, h.Auth))
		d.mu.Unlock()
		if reject {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "JWT Expired")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"multi":    true,
			"response": map[string]any{"out": map[string]any{"children": fmt.Sprintf("clicks: %d", n)}},
		})
	}))
	fs := http.StripPrefix("/assets/dash/", http.FileServer(http.Dir(dashFixture)))
	m.Handle("GET /assets/dash/", fs)

	var scripts strings.Builder
	for _, s := range dashScripts {
		fmt.Fprintf(&scripts, "<script src=\"/assets/dash/%s\"></script>\n", s)
	}
	// The page a Dash app serves, with the browser hook loaded in the head
	// and the renderer started by the reusable snippet. Before it, the test
	// wraps DashRenderer only to count request_refresh_jwt calls.
	doc := `<!doctype html><html><head><meta charset="utf-8"><title>Dash</title>
<script src="/_tokenhook/tokenhook.js"></script></head><body>
<div id="react-entry-point"><div class="_dash-loading">Loading...</div></div>
<footer>
<script id="_dash-config" type="application/json">{"url_base_pathname": null, "requests_pathname_prefix": "/", "ui": false, "props_check": false, "show_undo_redo": false, "suppress_callback_exceptions": false, "update_title": "Updating...", "hot_reload": false}</script>
` + scripts.String() + `<script>
window.refreshJwtCalls = [];
(function () {
  var Real = window.DashRenderer;
  window.DashRenderer = function (hooks) {
    var counted = Object.assign({}, hooks, {request_refresh_jwt: function (old) {
      window.refreshJwtCalls.push(old);
      return hooks.request_refresh_jwt(old);
    }});
    return new Real(counted);
  };
})();
</script>
<script src="/assets/dash/renderer-hooks.js"></script>
</footer></body></html>`
	m.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, doc)
	})
}

// updates returns the update requests for a click count, in arrival order.
func (d *dashApp) updates(clicks int) []hit {
	var out []hit
	for _, h := range d.rec.at("/_dash-update-component") {
		if n, err := clicksOf(h.Body); err == nil && n == clicks {
			out = append(out, h)
		}
	}
	return out
}

func newDashApp(t *testing.T, o envOptions) (*env, *dashApp, *browsertest.Tab) {
	t.Helper()
	needDashFixture(t)
	e := newEnv(t, o)
	d := &dashApp{e: e, rec: &recorder{}}
	d.mount()
	tab := e.signedInTab(t, "/app")
	return e, d, tab
}

func waitOut(t *testing.T, tab *browsertest.Tab, text string) {
	t.Helper()
	tab.WaitFor(`(document.getElementById("out") || {}).textContent === ` + escapeJS(text))
}

// TestDashRenderer: the real renderer's layout and dependency GETs and every
// callback POST carry the viewer's token: the page's (bearer), or the one
// tokenhook adds on the way to the app for the requests the script marked
// (none; the page holds no token).
func TestDashRenderer(t *testing.T) {
	for _, o := range []envOptions{{}, {Upstream: true, BrowserToken: "none"}, {Upstream: true, BrowserToken: "dpop"}} {
		t.Run("browser-token="+cmp.Or(o.BrowserToken, "bearer"), func(t *testing.T) { testDashRenderer(t, o) })
	}
}

func testDashRenderer(t *testing.T, o envOptions) {
	e, d, tab := newDashApp(t, o)
	waitOut(t, tab, "clicks: 0")
	for i := 1; i <= 2; i++ {
		tab.Do(chromedp.Click(chromedp.CSS("#btn")))
		waitOut(t, tab, fmt.Sprintf("clicks: %d", i))
	}
	for _, path := range []string{"/_dash-layout", "/_dash-dependencies", "/_dash-update-component"} {
		hits := d.rec.at(path)
		if len(hits) == 0 {
			t.Errorf("the renderer never requested %s", path)
		}
		for _, h := range hits {
			if h.Auth == "" {
				t.Errorf("%s %s without Authorization", h.Method, path)
				continue
			}
			e.checkToken(h.Auth)
		}
	}
	if n := len(d.rec.at("/_dash-update-component")); n != 3 {
		t.Errorf("%d callback requests, want 3 (initial and two clicks)", n)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("browser errors: %q", errs)
	}
}

// TestDashJWTExpired: the backend answers "JWT Expired" to a callback. Once
// (a stale token), the hook refreshes and replays and the callback completes
// with the fresh token. Also with the fresh token (the app says no to this
// callback), the renderer gets the 401: its request_refresh_jwt hands over
// the current token without another refresh, its retry gets the 401 with no
// refresh either, and later callbacks keep working with the fresh token.
func TestDashJWTExpired(t *testing.T) {
	tests := []struct {
		name string
		// refusals is how many distinct tokens the backend refuses for the
		// first click.
		refusals int
		// wantOut is the output after the first click; wantHits the callback
		// requests it makes, wantTokens their tokens in order (A, B…).
		wantOut, wantTokens string
		wantRefreshJwt      int
	}{
		{"one refusal", 1, "clicks: 1", "A B", 0},
		{"refused again: the app says no", 2, "clicks: 0", "A B B", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, d, tab := newDashApp(t, envOptions{})
			waitOut(t, tab, "clicks: 0")
			refused := map[string]bool{}
			d.mu.Lock()
			d.reject = func(clicks int, auth string) bool {
				if clicks != 1 {
					return false
				}
				if refused[auth] {
					return true
				}
				if len(refused) < tt.refusals {
					refused[auth] = true
					return true
				}
				return false
			}
			d.mu.Unlock()
			before, _ := e.Tokens.snapshot()
			grants := e.Grants.Load()

			tab.Do(chromedp.Click(chromedp.CSS("#btn")))
			want := len(strings.Fields(tt.wantTokens))
			for deadline := time.Now().Add(20 * time.Second); len(d.updates(1)) < want && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			waitOut(t, tab, tt.wantOut)

			hits := d.updates(1)
			if got := tokenOrder(hits); got != tt.wantTokens {
				t.Errorf("callback requests for the click carried tokens %q, want %q", got, tt.wantTokens)
			}
			for _, h := range hits {
				e.checkToken(h.Auth)
			}
			calls := browsertest.Eval[[]*string](tab, `window.refreshJwtCalls`)
			if len(calls) != tt.wantRefreshJwt {
				t.Errorf("request_refresh_jwt called %d times, want %d", len(calls), tt.wantRefreshJwt)
			}
			after, _ := e.Tokens.snapshot()
			if n := len(after) - len(before); n != 1 {
				t.Errorf("%d token requests, want 1 (one refresh past the first refused token)", n)
			}
			if n := e.Grants.Load() - grants; n != 1 {
				t.Errorf("%d refresh grants at Dex, want 1", n)
			}
			// The renderer keeps working with the fresh token, with no refresh.
			tab.Do(chromedp.Click(chromedp.CSS("#btn")))
			waitOut(t, tab, "clicks: 2")
			if n := e.Grants.Load() - grants; n != 1 {
				t.Errorf("%d refresh grants at Dex after the next click, want still 1", n)
			}
			last := d.updates(2)
			if len(last) != 1 || len(hits) < 2 || last[0].Auth != hits[1].Auth {
				t.Errorf("the next click did not go out once with the refreshed token")
			}
			if n := len(d.updates(1)); n != want {
				t.Errorf("%d callback requests for the first click in the end, want %d", n, want)
			}
			if errs := tab.Errors(); len(errs) > 0 {
				t.Logf("browser errors (401s are logged by the browser): %q", errs)
			}
		})
	}
}

// tokenOrder names the distinct tokens of hits A, B, C… in order of first use.
func tokenOrder(hits []hit) string {
	names := map[string]string{}
	var out []string
	for _, h := range hits {
		if _, ok := names[h.Auth]; !ok {
			names[h.Auth] = string(rune('A' + len(names)))
		}
		out = append(out, names[h.Auth])
	}
	return strings.Join(out, " ")
}
