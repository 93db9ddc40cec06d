// Package browsertest runs a real headless Chromium for tests, the way
// net/http/httptest runs a real HTTP server.
//
// A test package shares one browser (cold start is about a second) and gives
// every test its own tab in a fresh browser context, so cookies and storage do
// not leak from one test into the next:
//
//	var browser browsertest.Shared
//
//	func TestMain(m *testing.M) { browser.Main(m) }
//
//	func TestPage(t *testing.T) {
//		tab := browser.Tab(t)
//		tab.Navigate(srv.URL + "/page")
//		tab.WaitFor(`document.title === "ready"`)
//		got := browsertest.Eval[string](tab, `fetch("/x").then(r => r.text())`)
//		...
//	}
//
// When no Chromium is installed the tests are skipped, except when the
// environment variable CI is "true": then a missing browser fails the test.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// ErrNoBrowser reports that no Chromium executable was found.
var ErrNoBrowser = errors.New("browsertest: no Chromium executable found (install the Debian package chromium)")

// DefaultTimeout bounds everything one tab does when Options.Timeout is zero.
const DefaultTimeout = 90 * time.Second

// startTimeout bounds the start of the browser.
const startTimeout = 60 * time.Second

// execCandidates are tried in order by FindExecPath. The Debian binary comes
// first: its /usr/bin wrapper prints noise on every start.
var execCandidates = []string{
	"/usr/lib/chromium/chromium",
	"/usr/bin/chromium",
	"chromium",
	"chromium-browser",
}

// FindExecPath returns the path of the Chromium executable to run, or
// ErrNoBrowser.
func FindExecPath() (string, error) {
	for _, c := range execCandidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Options configures a Browser.
type Options struct {
	// ExecPath is the Chromium executable; empty means FindExecPath.
	ExecPath string
	// Timeout bounds each tab, from its creation to its end; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Flags are extra command line switches, name without the leading dashes;
	// a bool value true passes --name, a string passes --name=value.
	Flags map[string]any
}

// Browser is a running headless Chromium with its own profile and temporary
// directories.
type Browser struct {
	ctx         context.Context // holds the chromedp browser
	cancelAlloc context.CancelFunc
	cancelCtx   context.CancelFunc
	dir         string
	timeout     time.Duration
}

// Start launches Chromium and returns once it answers. The browser lives until
// Close or until ctx ends.
func Start(ctx context.Context, o Options) (*Browser, error) {
	path := o.ExecPath
	if path == "" {
		var err error
		if path, err = FindExecPath(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		return nil, fmt.Errorf("browsertest: temp dir: %w", err)
	}
	profile, tmp := filepath.Join(dir, "profile"), filepath.Join(dir, "tmp")
	for _, d := range []string{profile, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("browsertest: temp dir: %w", err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	for name, v := range o.Flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelCtx := chromedp.NewContext(allocCtx)
	// The first Do starts the browser and opens its first tab, which stays
	// blank; tests get tabs in their own browser contexts. The browser lives
	// as long as the context of that first call, so it gets bctx itself and
	// the start is bounded by a timer instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err = <-started:
	case <-timer.C:
		err = fmt.Errorf("no answer after %v", startTimeout)
	}
	if err != nil {
		cancelCtx()
		cancelAlloc()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browsertest: start %s: %w", path, err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Browser{ctx: bctx, cancelAlloc: cancelAlloc, cancelCtx: cancelCtx, dir: dir, timeout: timeout}, nil
}

// Close stops the browser and removes its directories.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	err := chromedp.Cancel(ctx)
	cancel()
	b.cancelCtx()
	b.cancelAlloc()
	if rerr := os.RemoveAll(b.dir); rerr != nil && err == nil {
		err = fmt.Errorf("browsertest: remove %s: %w", b.dir, rerr)
	}
	return err
}

// NewTab opens a tab in a new browser context (its own cookies, storage and
// cache, like an incognito window). The tab closes when the test ends.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	tctx, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tctx, b.timeout)
	return startTab(t, ctx, func() { cancel(); cancelTab() })
}

// Shared starts one Browser on first use and shares it between the tests of a
// package. Declare one package-level value, call Main from TestMain (or Close
// after m.Run) and Tab from the tests. The zero value uses default Options.
type Shared struct {
	// Options are used when the browser starts.
	Options Options

	mu      sync.Mutex
	started bool
	b       *Browser
	err     error
}

// Browser returns the shared browser, starting it on the first call. When no
// Chromium is installed it skips the test, or fails it when Required.
func (s *Shared) Browser(t testing.TB) *Browser {
	t.Helper()
	s.mu.Lock()
	if !s.started {
		s.started = true
		s.b, s.err = Start(context.Background(), s.Options)
	}
	b, err := s.b, s.err
	s.mu.Unlock()
	if errors.Is(err, ErrNoBrowser) {
		testenv.Need(t, "chromium", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Tab returns a fresh tab of the shared browser; see Browser.NewTab.
func (s *Shared) Tab(t testing.TB) *Tab {
	t.Helper()
	return s.Browser(t).NewTab(t)
}

// Close stops the shared browser if it was started.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil
	}
	err := s.b.Close()
	s.b = nil
	return err
}

// Main runs the tests of the package, stops the shared browser and exits with
// the tests' status. Call it from TestMain.
func (s *Shared) Main(m *testing.M) {
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Tab is one browser tab driven by a test. Its methods fail the test on error,
// so call them from the test's goroutine.
type Tab struct {
	t      testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the console reader ends

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func startTab(t testing.TB, ctx context.Context, cancel context.CancelFunc) *Tab {
	t.Helper()
	tab := &Tab{t: t, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	// Console opens the tab and subscribes before any page runs.
	msgs := chromedp.Console(ctx)
	go func() {
		defer close(tab.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(tab.close)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: open tab: %v", err)
	}
	return tab
}

func (tab *Tab) close() {
	if tab.t.Failed() {
		for _, m := range tab.Console() {
			tab.t.Logf("browser console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
		}
	}
	tab.cancel()
	<-tab.done
}

// Context returns the chromedp context of the tab, for actions the helpers do
// not cover: chromedp.Do(tab.Context(), ...).
func (tab *Tab) Context() context.Context { return tab.ctx }

// Do runs chromedp actions in the tab and fails the test on error.
func (tab *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	if err := chromedp.Do(tab.ctx, steps...); err != nil {
		tab.t.Fatalf("browsertest: %v%s", err, tab.errorSummary())
	}
}

// Navigate loads url in the tab and waits for the load event.
func (tab *Tab) Navigate(url string) {
	tab.t.Helper()
	if err := chromedp.Do(tab.ctx, chromedp.Navigate(url)); err != nil {
		tab.t.Fatalf("browsertest: navigate to %s: %v%s", url, err, tab.errorSummary())
	}
}

// WaitFor polls the JavaScript expression until it is truthy, failing the test
// when the tab's time runs out.
func (tab *Tab) WaitFor(expr string) {
	tab.t.Helper()
	if _, err := WaitFor[chromedp.Void](tab, expr); err != nil {
		tab.t.Fatalf("browsertest: wait for %s: %v%s", expr, err, tab.errorSummary())
	}
}

// WaitFor polls the JavaScript expression until it is truthy and returns that
// value decoded as T. Unlike Tab.WaitFor it returns the error.
func WaitFor[T any](tab *Tab, expr string) (T, error) {
	timeout := DefaultTimeout
	if dl, ok := tab.ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	// An interval rather than animation frames: a background tab or popup
	// gets no frames.
	return chromedp.Run(tab.ctx, chromedp.Poll[T](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
}

// Eval evaluates the JavaScript expression in the tab, waits for it when it
// is a promise, and returns its JSON value decoded as T. A thrown exception or
// rejected promise fails the test; use EvalErr to inspect it instead.
func Eval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	v, err := EvalErr[T](tab, expr)
	if err != nil {
		tab.t.Fatalf("browsertest: eval %s: %v%s", expr, err, tab.errorSummary())
	}
	return v
}

// EvalErr is Eval returning the error instead of failing the test.
func EvalErr[T any](tab *Tab, expr string) (T, error) {
	return chromedp.Run(tab.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// Console returns the console messages, uncaught exceptions and browser log
// entries of the tab so far.
func (tab *Tab) Console() []chromedp.ConsoleMessage {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), tab.console...)
}

// Errors returns the text of the console errors and uncaught exceptions so far.
func (tab *Tab) Errors() []string {
	var out []string
	for _, m := range tab.Console() {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
			out = append(out, m.Text)
		}
	}
	return out
}

func (tab *Tab) errorSummary() string {
	errs := tab.Errors()
	if len(errs) == 0 {
		return ""
	}
	return "\nbrowser errors:\n  " + strings.Join(errs, "\n  ")
}

// Popup runs trigger, which must make the page open a new window (for
// example by evaluating window.open), and returns a Tab attached to that
// window. The popup closes when the test ends.
func (tab *Tab) Popup(trigger func()) *Tab {
	tab.t.Helper()
	ch := chromedp.WaitNewTarget(tab.ctx, func(i *target.Info) bool { return i.Type == "page" })
	trigger()
	var id target.ID
	select {
	case v, ok := <-ch:
		if !ok {
			tab.t.Fatal("browsertest: popup: the tab has no target")
		}
		id = v
	case <-tab.ctx.Done():
		tab.t.Fatalf("browsertest: no popup opened: %v%s", tab.ctx.Err(), tab.errorSummary())
	}
	ctx, cancel := chromedp.NewContext(tab.ctx, chromedp.WithTargetID(id))
	return startTab(tab.t, ctx, cancel)
}
