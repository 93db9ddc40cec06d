// Package testenv is what every test package shares about the machine: the
// one policy for a missing part (Need: skip here, fail when CI is "true"),
// a real redis-server on a free port, a locked LogBuffer for concurrent
// logs, WaitHTTP and a cookie-jar client (NewClient). Go's own
// internal/testenv is the model.
package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is one redis-server process shared by a test package. It starts on
// the first call to Addr and stops when Stop is called, usually from TestMain:
//
//	var redisServer testenv.Redis
//
//	func TestMain(m *testing.M) { os.Exit(redisServer.Main(m)) }
//
//	func TestX(t *testing.T) {
//		addr := redisServer.Addr(t) // skips (fails under CI=true) without redis-server
//		...
//	}
//
// A test of its own gets one with StartRedis. The server keeps nothing on disk (--save ” --appendonly no) and listens on
// 127.0.0.1 only, on a free port.
type Redis struct {
	conf string   // config file, first on the command line ("" = none)
	args []string // extra arguments
	mu   sync.Mutex
	cmd  *exec.Cmd
	port int
	dir  string
	err  error // the start error, remembered so every test reports it
}

// StartRedis starts a redis-server for one test, stopped when the test ends;
// for packages without a TestMain, and for tests that kill their Redis. A
// missing redis-server skips the test, or fails it when CI is "true".
func StartRedis(t testing.TB) *Redis { t.Helper(); return StartRedisWith(t, "") }

// StartRedisWith is StartRedis with a config file (conf, "" for none; a
// Sentinel's, say) and extra arguments (--requirepass, --tls-port, …).
func StartRedisWith(t testing.TB, conf string, args ...string) *Redis {
	t.Helper()
	r := &Redis{conf: conf, args: args}
	r.Addr(t)
	t.Cleanup(r.Stop)
	return r
}

// Dir is the server's working directory (cluster node files go there).
func (r *Redis) Dir() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dir
}

// Main runs the package's tests and stops the server afterwards. It returns
// the exit code for os.Exit.
func (r *Redis) Main(m *testing.M) int {
	code := m.Run()
	r.Stop()
	return code
}

// Addr returns host:port of the server, starting it on first use (after
// Kill it stays the killed server's address, for Restart). When
// redis-server is missing or does not start, the test is skipped, or failed
// when CI is "true".
func (r *Redis) Addr(t testing.TB) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.port == 0 && r.err == nil {
		r.err = r.start()
	}
	Need(t, "redis-server (the Debian package redis-server)", r.err)
	return r.addr()
}

func (r *Redis) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Stop ends the server (SIGKILL: a test's Redis holds nothing worth saving).
// Addr afterwards starts a new, empty one on a new port; use Restart to come
// back on the same port.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kill()
	r.port, r.err = 0, nil
	if r.dir != "" {
		os.RemoveAll(r.dir)
		r.dir = ""
	}
}

// Kill ends the server abruptly and keeps its port for Restart: clients see
// connection errors until then.
func (r *Redis) Kill(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		t.Fatal("testenv: Kill before Addr")
	}
	r.kill()
}

// Restart starts an empty server on the port of the one Kill ended, the way
// a Redis without persistence comes back after a crash.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.port == 0 {
		t.Fatal("testenv: Restart before Addr")
	}
	r.kill()
	if err := r.run(); err != nil {
		t.Fatalf("testenv: restart redis-server: %v", err)
	}
}

func (r *Redis) kill() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *Redis) start() error {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return errors.New("redis-server is not installed")
	}
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return err
	}
	r.dir = dir
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return r.run()
}

// run starts redis-server on r.port and waits until it answers PING.
func (r *Redis) run() error {
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(args, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--loglevel", "warning")
	cmd := exec.Command("redis-server", append(args, r.args...)...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(r.addr()); err == nil {
			r.cmd = cmd
			return nil
		} else if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("redis-server on port %d did not answer: %w", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends an inline PING and expects an answer from Redis.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with a password answers, just not PONG.
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
