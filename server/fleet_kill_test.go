package server

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// TestFleetLeaseHolderKilled: a replica running as a process of the built
// binary takes the refresh lease and calls a slow provider; it is killed
// (SIGKILL) mid-call, so its refresh never reaches Dex. The other replicas'
// callers wait for the dead holder's lease to lapse, then exactly one of
// them refreshes, and every caller gets the new token: the session
// survives.
func TestFleetLeaseHolderKilled(t *testing.T) {
	f := newFleet(t, 2)
	bin := filepath.Join(t.TempDir(), "tokenhook")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tokenhook").CombinedOutput(); err != nil {
		t.Fatalf("build tokenhook: %v\n%s", err, out)
	}
	ln := localListener(t)
	addr := ln.Addr().String()
	ln.Close()
	proc := exec.Command(bin, "serve", "--addr", addr, "--public-url", f.cfg.PublicURL, "--issuer", f.cfg.Issuer,
		"--client-id", f.cfg.ClientID, "--client-secret", f.cfg.ClientSecret, "--cookie-secret", string(f.cfg.CookieSecret),
		"--session-store", f.cfg.SessionStore, "--upstream", f.cfg.Upstream, "--data-dir", "")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + Prefix + "readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the tokenhook process is not ready")
		}
	}
	f.addrs = append(f.addrs, mustURL("http://"+addr))
	victim := len(f.addrs) - 1

	c := testenv.NewClient()
	f.signIn(c, users[0], "/")
	f.expire(c)
	f.holdGrants.Store(true)
	go f.on(c, victim, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"}) // fails when the process dies
	select {
	case <-f.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the process never called the provider")
	}
	proc.Process.Kill() // SIGKILL, holding the lease, its refresh in flight
	proc.Wait()
	f.holdGrants.Store(false)
	before := f.grants.Load()

	start := time.Now()
	got := make([]tokenAnswer, 20)
	var retries atomic.Int32
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			// A caller waits at most --refresh-timeout (3 s), less than the
			// dead holder's lease: it gets "temporarily_unavailable" and asks
			// again, as the browser hook does on its next request.
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				resp, body := f.on(c, i%2, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
				got[i] = tokenAnswer{status: resp.StatusCode, raw: body}
				json.Unmarshal([]byte(body), &got[i].body)
				if code, _ := jsonError(body); code != "temporarily_unavailable" || time.Now().After(deadline) {
					return
				}
				retries.Add(1)
			}
		})
	}
	wg.Wait()
	for i, a := range got {
		if a.status != 200 || a.body["access_token"] != got[0].body["access_token"] {
			t.Fatalf("caller %d after the lease holder died: %v", i, a)
		}
	}
	if retries.Load() == 0 {
		t.Fatal("no caller waited: the survivors did not respect the dead holder's lease")
	}
	if n := f.grants.Load() - before; n != 1 {
		t.Fatalf("%d refresh grants after the holder died, want 1", n)
	}
	t.Logf("the survivors refreshed %v after the holder was killed (%d answers asked to try again first)", time.Since(start).Round(time.Millisecond), retries.Load())
	if a := f.token(c, nil); a.status != 200 {
		t.Fatalf("the session after the recovery: %v", a)
	}
}
