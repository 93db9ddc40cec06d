// Command loadgen measures a running `tokenhook serve` over HTTP, with a bare
// httputil.ReverseProxy in the same run as the baseline. From the repository
// root:
//
//	go run ./internal/cmd/loadgen [-c 8] [-d 5s]
//
// It builds cmd/tokenhook (or takes -tokenhook BINARY), starts the in-process
// Dex of internal/idp, an upstream app answering 200, the tokenhook binary as
// a child process in front of it, and the bare proxy as a second child
// process (this program again, with -bare-proxy), signs a user in and gets
// an access token from the token endpoint. Then, for -d each, -c workers
// send:
//
//	bare proxy      POST with the bearer token through httputil.ReverseProxy
//	tokenhook       the same POST through tokenhook (validates the token, forwards)
//	token endpoint  GET /_tokenhook/token with the session cookie
//
// and it prints requests per second, latency percentiles and the CPU time the
// proxy's process spent per request (Linux: /proc/PID/stat).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
}

type options struct {
	workers  int
	duration time.Duration
	binary   string
	bare     string // -bare-proxy LISTEN=UPSTREAM: run as the baseline proxy
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.IntVar(&o.workers, "c", 8, "concurrent workers (each with its own keep-alive connection)")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "duration of each scenario")
	fs.StringVar(&o.binary, "tokenhook", "", "tokenhook binary to run (default: go build ./cmd/tokenhook)")
	fs.StringVar(&o.bare, "bare-proxy", "", "internal: serve httputil.ReverseProxy, as LISTEN_ADDR=UPSTREAM_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.bare != "" {
		return bareProxy(ctx, o.bare)
	}
	if o.workers < 1 || o.duration <= 0 {
		return errors.New("-c must be at least 1 and -d positive")
	}
	return measure(ctx, o, out)
}

// bareProxy is the baseline: a plain httputil.ReverseProxy, nothing else.
func bareProxy(ctx context.Context, spec string) error {
	addr, upstream, ok := strings.Cut(spec, "=")
	target, err := url.Parse(upstream)
	if !ok || err != nil {
		return fmt.Errorf("-bare-proxy %q: want LISTEN_ADDR=UPSTREAM_URL", spec)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// The same connection pool as tokenhook's proxy, so the difference is
	// what tokenhook does, not how many upstream connections it keeps.
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	hs := &http.Server{Addr: addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func measure(ctx context.Context, o options, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.binary == "" {
		o.binary = filepath.Join(tmp, "tokenhook")
		if b, err := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", o.binary, "./cmd/tokenhook").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tokenhook (run from the repository root): %w\n%s", err, b)
		}
	}

	// The upstream app: reads the request, answers a small JSON body.
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}), ReadHeaderTimeout: 10 * time.Second}
	go upstream.Serve(upLn)
	defer upstream.Close()
	upURL := "http://" + upLn.Addr().String()

	thAddr, bareAddr := freeAddr(), freeAddr()
	thURL := "http://" + thAddr
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	issuer := "http://" + idpLn.Addr().String() + "/dex"
	const email, password, secret = "load@example.com", "load", "loadgen-secret"
	provider, err := idp.Start(ctx, idp.Options{
		Issuer: issuer, Listener: idpLn, TokenTTL: time.Hour,
		Users:   []idp.User{{Email: email, Password: password, Name: "Load"}},
		Clients: []idp.Client{{ID: "loadgen", Secret: secret, RedirectURIs: []string{thURL + server.Prefix + "callback"}}},
	})
	if err != nil {
		return err
	}
	defer provider.Close()

	th := exec.CommandContext(ctx, o.binary, "serve", "--addr", thAddr, "--issuer", issuer,
		"--client-id", "loadgen", "--client-secret", secret, "--cookie-secret", strings.Repeat("k", 32),
		"--upstream", upURL, "--data-dir", "", "--log-level", "error")
	th.Stderr = os.Stderr
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare := exec.CommandContext(ctx, self, "-bare-proxy", bareAddr+"="+upURL)
	bare.Stderr = os.Stderr
	for _, c := range []*exec.Cmd{th, bare} {
		c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
		c.WaitDelay = 5 * time.Second
		if err := c.Start(); err != nil {
			return err
		}
		defer c.Wait()
	}
	defer cancel()
	for _, u := range []string{thURL + server.Prefix + "readyz", "http://" + bareAddr + "/"} {
		if err := waitUp(ctx, u); err != nil {
			return err
		}
	}

	session, token, err := signIn(ctx, thURL, email, password)
	if err != nil {
		return err
	}
	post := func(base string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, base+"/api/echo", strings.NewReader(`{"x":1}`))
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/json")
			return r
		}
	}
	scenarios := []struct {
		name string
		pid  int
		req  func() *http.Request
	}{
		{"bare httputil.ReverseProxy, bearer POST", bare.Process.Pid, post("http://" + bareAddr)},
		{"tokenhook serve, bearer POST (validated, forwarded)", th.Process.Pid, post(thURL)},
		{"tokenhook serve, GET " + server.Prefix + "token", th.Process.Pid, func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, thURL+server.Prefix+"token", nil)
			r.Header.Set("X-TokenHook", "1")
			for _, c := range session {
				r.AddCookie(c)
			}
			return r
		}},
	}
	fmt.Fprintf(out, "loadgen: %d workers, %v per scenario, GOMAXPROCS %d, %s/%s\n\n", o.workers, o.duration, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(out, "| scenario | req/s | p50 | p99 | proxy CPU per request |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, s := range scenarios {
		r, err := load(ctx, s.req, s.pid, o)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, "| %s | %.0f | %v | %v | %s |\n", s.name, r.rps, r.p50, r.p99, r.cpu)
	}
	return nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	cpu      string
}

// load runs o.workers loops of req for o.duration and measures.
func load(ctx context.Context, req func() *http.Request, pid int, o options) (result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: o.workers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// Warm up: connections, caches, the JIT of nothing.
	for range 50 {
		if err := once(client, req()); err != nil {
			return result{}, err
		}
	}
	cpu0, cpuErr := cpuTime(pid)
	var (
		mu    sync.Mutex
		lat   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(o.duration)
	for range o.workers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := once(client, req()); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return result{}, first
	}
	if len(lat) == 0 {
		return result{}, errors.New("no request finished")
	}
	slices.Sort(lat)
	r := result{
		rps: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)/2].Round(time.Microsecond), p99: lat[len(lat)*99/100].Round(time.Microsecond),
		cpu: "n/a",
	}
	if cpu1, err := cpuTime(pid); err == nil && cpuErr == nil {
		r.cpu = fmt.Sprintf("%.0f µs", float64((cpu1-cpu0).Microseconds())/float64(len(lat)))
	}
	return r, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// once sends one request and wants a 200.
func once(c *http.Client, r *http.Request) error {
	resp, err := c.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", r.Method, r.URL.Path, resp.StatusCode)
	}
	return nil
}

// cpuTime is the user+system CPU time of process pid so far (Linux only).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are fields 14 and 15 of the whole line, in clock ticks (100/s).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// signIn signs the user in through tokenhook (Dex's login form over plain
// HTTP) and returns the session cookies and an access token from the token
// endpoint.
func signIn(ctx context.Context, thURL, email, password string) ([]*http.Cookie, string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, thURL+server.Prefix+"login?rd=%2F", email, password, nil)
	if err != nil {
		return nil, "", err
	}
	resp.Body.Close()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, thURL+server.Prefix+"token", nil)
	r.Header.Set("X-TokenHook", "1")
	resp, err = c.Do(r)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var a struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.AccessToken == "" {
		return nil, "", fmt.Errorf("token endpoint after sign-in: status %d, %v", resp.StatusCode, err)
	}
	u, _ := url.Parse(thURL)
	return jar.Cookies(u), a.AccessToken, nil
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUp waits until u answers 200, for 20 s at most.
func waitUp(ctx context.Context, u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(r)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 20 s: %w", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
