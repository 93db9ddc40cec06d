package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// Listen opens a TCP listener on addr. Its error is one readable line,
// "cannot listen on ADDR: address already in use", for command-line output.
func Listen(addr string) (net.Listener, error) {
	return listen(addr, false)
}

// ListenFor opens the server's listening socket, in this order:
//
//   - the socket systemd passed in (socket activation: LISTEN_PID is this
//     process and LISTEN_FDS is at least 1; the first one, file descriptor
//     3, is used). systemd keeps it open across restarts, so connections
//     arriving while the service restarts wait in its queue;
//   - a TCP listener on addr, with SO_REUSEPORT when reusePort: a
//     new process can then listen on the same port while the old one still
//     does, and the kernel hands new connections to both until the old one
//     closes its socket when it starts draining.
//
// getenv is usually os.Getenv.
func ListenFor(addr string, reusePort bool, getenv func(string) string) (net.Listener, error) {
	if ln, err := inherited(getenv); ln != nil || err != nil {
		return ln, err
	}
	return listen(addr, reusePort)
}

// inherited returns the socket systemd passed, or nil when it passed none.
func inherited(getenv func(string) string) (net.Listener, error) {
	pid, fds := getenv("LISTEN_PID"), getenv("LISTEN_FDS")
	if pid == "" || fds == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	if n, err := strconv.Atoi(fds); err != nil || n < 1 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a positive number", fds)
	}
	f := os.NewFile(3, "systemd socket")
	defer f.Close() // FileListener made its own copy
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: file descriptor 3 is not a listening socket: %w", err)
	}
	return ln, nil
}

func listen(addr string, reusePort bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = reusePortControl
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err == nil {
		return ln, nil
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
		var sys *os.SyscallError
		if errors.As(err, &sys) {
			err = sys.Err
		}
	}
	return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
}
