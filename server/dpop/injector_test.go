package dpop_test

// Cross-checks with the browser side: proofs made by injector/src/dpop.ts,
// bundled by jsbundle as the server would serve it, must pass this package's
// Verifier and Middleware, in node and in a real Chromium.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/injector"
	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/jsbundle"
	"github.com/tokenhook/tokenhook/server/dpop"
)

var browser browsertest.Shared

func TestMain(m *testing.M) { browser.Main(m) }

// dpopChunk bundles src/dpop.ts as jsbundle bundles the injector's chunks
// (ES2019, minified IIFE) and reports its size. Loaded by a script element
// with a .th callback, the chunk hands that callback its entry points.
func dpopChunk(t *testing.T) string {
	t.Helper()
	b, err := jsbundle.BuildFS(injector.Sources, "src/dpop.ts")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dpop chunk: %d bytes, %d gzip", len(b.Code()), len(b.Gzip()))
	return string(b.Code())
}

// needNode returns the node executable, skipping the test without it (failing
// it when CI=true).
func needNode(t *testing.T) string { return testenv.NeedCommand(t, "node") }

// TestInjectorProofsInNode: proofs that dpop.ts makes in node (memory key)
// pass Verify for their request, and a token minted for the key's thumbprint
// passes Middleware with them.
func TestInjectorProofsInNode(t *testing.T) {
	node := needNode(t)
	const u = "https://app.example.com/api/data"
	clk := &clock{time.Now()}
	tokens := newTokens(t, clk, issuer)
	v := newVerifier(t, clk, dpop.Config{})
	// The script prints the key's thumbprint, then waits for a token on
	// stdin and prints proofs for it.
	driver := `globalThis.document = {currentScript: {th: (m) => { globalThis.DPOP = m; }}};
` + dpopChunk(t) + `
delete globalThis.document;
(async () => {
  const k = await DPOP.loadKey();
  console.log(JSON.stringify({jkt: k.jkt, extractable: k.pair.privateKey.extractable}));
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const tok = input.trim();
  const out = [];
  out.push(await DPOP.proof(k, "post", "https://App.Example.com:443/api/data?x=1#y", tok));
  out.push(await DPOP.proof(k, "GET", "https://app.example.com/api/data", tok, "the-nonce"));
  out.push(await DPOP.proof(k, "POST", "https://app.example.com/_tokenhook/token"));
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", driver)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(stdout)
	var key struct {
		JKT         string `json:"jkt"`
		Extractable bool   `json:"extractable"`
	}
	if err := dec.Decode(&key); err != nil {
		t.Fatalf("reading the key: %v; node said %s", err, stderr.String())
	}
	if key.Extractable || len(key.JKT) != 43 {
		t.Fatalf("key %+v", key)
	}
	tok, _, err := tokens.Mint(dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: key.JKT})
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte(tok + "\n"))
	stdin.Close()
	var proofs []string
	if err := dec.Decode(&proofs); err != nil {
		t.Fatalf("reading the proofs: %v; node said %s", err, stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node: %v: %s", err, stderr.String())
	}

	// The first proof through Middleware, as a browser's request would come.
	var seen *dpop.Result
	h := dpop.Middleware(v, tokens, dpop.MiddlewareOptions{Origin: "https://app.example.com", Audience: audience,
		Verified: func(_ *http.Request, res *dpop.Result) { seen = res }})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("POST", u+"?x=1", nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set(dpop.ProofHeader, proofs[0])
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || seen == nil || seen.Proof.JKT != key.JKT || seen.Claims.Subject != "alice" {
		t.Fatalf("Middleware: %d %s", w.Code, w.Body)
	}
	// The same proof again: replay.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("replayed proof: %d", w.Code)
	}
	// With a nonce, and for the token endpoint (no ath).
	p, err := v.Verify(t.Context(), proofs[1], dpop.Request{Method: "GET", URL: u, AccessToken: tok})
	if err != nil || p.Nonce != "the-nonce" || p.JKT != key.JKT {
		t.Fatalf("nonce proof: %+v, %v", p, err)
	}
	if _, err := v.Verify(t.Context(), proofs[2], dpop.Request{Method: "POST", URL: "https://app.example.com/_tokenhook/token"}); err != nil {
		t.Fatalf("token endpoint proof: %v", err)
	}
}

// dpopSite is a test site: a page with the bundled dpop.ts, a token endpoint
// that mints a token for the proof's key, and an API behind Middleware that
// requires nonces.
type dpopSite struct {
	srv *httptest.Server
	mu  sync.Mutex
	api int // requests that reached the API
}

func newDPoPSite(t *testing.T) *dpopSite {
	s := &dpopSite{}
	chunk := dpopChunk(t)
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	origin := s.srv.URL
	nonces, err := dpop.NewNonces(nonceKey(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.Config{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := dpop.NewTokens(dpop.TokenConfig{Issuer: origin, Key: jose.JSONWebKey{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		// The chunk loaded the way the main script loads its chunks.
		w.Write([]byte(`<!doctype html><title>dpop</title><script>
const s = document.createElement("script");
s.src = "/dpop.js";
s.th = (m) => { window.DPOP = m; };
document.head.appendChild(s);
</script>`))
	})
	mux.HandleFunc("GET /dpop.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(chunk))
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		p, err := v.VerifyRequest(r, origin+r.URL.Path, "")
		if err != nil {
			v.WriteTokenError(w, err)
			return
		}
		tok, _, err := tokens.Mint(dpop.Grant{Subject: "alice", Audience: []string{origin}, JKT: p.JKT})
		if err != nil {
			t.Error(err)
			return
		}
		w.Write([]byte(tok))
	})
	mux.Handle("/api/", dpop.Middleware(v, tokens, dpop.MiddlewareOptions{Origin: origin, Audience: origin})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.api++
			s.mu.Unlock()
			w.Write([]byte("ok"))
		})))
	return s
}

func (s *dpopSite) apiHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.api
}

// pageFlow is run in the page: it gets a nonce and a token with proofs of the
// page's key, calls the API with them, and reports what happened.
const pageFlow = `(async () => {
  const k = await DPOP.loadKey();
  const send = async (method, url, tok, nonce) => {
    const h = {DPoP: await DPOP.proof(k, method, url, tok, nonce)};
    if (tok) h.Authorization = "DPoP " + tok;
    return fetch(url, {method, headers: h});
  };
  let r = await send("POST", "/token");
  const nonce = r.headers.get("DPoP-Nonce");
  const first = r.status;
  r = await send("POST", "/token", undefined, nonce);
  const tok = await r.text();
  const api = await send("POST", "/api/data?x=1", tok, nonce);
  let exported = "no";
  try { await crypto.subtle.exportKey("jwk", k.pair.privateKey); exported = "yes"; } catch (e) {}
  return {jkt: k.jkt, first, nonce: !!nonce, token: r.status, api: api.status, exported};
})()`

type pageResult struct {
	JKT      string `json:"jkt"`
	First    int    `json:"first"`
	Nonce    bool   `json:"nonce"`
	Token    int    `json:"token"`
	API      int    `json:"api"`
	Exported string `json:"exported"`
}

// TestInjectorProofsInChromium: in a real Chromium the key is not
// extractable, survives a reload (IndexedDB), and its proofs get a token at a
// token endpoint requiring nonces and pass Middleware.
func TestInjectorProofsInChromium(t *testing.T) {
	site := newDPoPSite(t)
	tab := browser.Tab(t)
	tab.Navigate(site.srv.URL + "/")
	tab.WaitFor("window.DPOP")
	got := browsertest.Eval[pageResult](tab, pageFlow)
	if got.First != 400 || !got.Nonce || got.Token != 200 || got.API != 200 || got.Exported != "no" || len(got.JKT) != 43 {
		t.Fatalf("first visit: %+v; console %v", got, tab.Errors())
	}
	if site.apiHits() != 1 {
		t.Fatalf("API reached %d times", site.apiHits())
	}
	tab.Navigate(site.srv.URL + "/")
	tab.WaitFor("window.DPOP")
	again := browsertest.Eval[pageResult](tab, pageFlow)
	if again.JKT != got.JKT || again.API != 200 {
		t.Fatalf("after reload: %+v (key before: %s)", again, got.JKT)
	}
	// An extractable key planted in IndexedDB (by an earlier script) is
	// replaced, not used.
	replaced := browsertest.Eval[bool](tab, plantKey)
	if !replaced {
		t.Fatal("a planted extractable key was used")
	}
}

// plantKey stores an extractable pair where dpop.ts keeps its key, then
// reports whether loadKey makes and keeps a non-extractable one instead.
const plantKey = `(async () => {
  const pair = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, true, ["sign", "verify"]);
  const req = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const db = await req(indexedDB.open("tokenhook", 1));
  await req(db.transaction("keys", "readwrite").objectStore("keys").put({privateKey: pair.privateKey, publicKey: pair.publicKey}, "dpop"));
  db.close();
  const k = await DPOP.loadKey(), k2 = await DPOP.loadKey();
  return k.pair.privateKey.extractable === false && k.jkt === k2.jkt;
})()`
