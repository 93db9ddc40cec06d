package testenv

import "syscall"

// childAttr makes the kernel kill redis-server when the test binary dies
// without running its cleanup (a panic, a timeout).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
