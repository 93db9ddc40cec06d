// Package graceful serves an http.Server until a context ends and then stops
// it gently: no new connections, a grace period for the requests in flight,
// and a cut for whatever is still open after it.
package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve answers requests on ln with hs until ctx ends or serving fails.
//
// When ctx ends, Serve stops accepting connections and gives the requests in
// flight up to grace to finish (http.Server.Shutdown, which also runs the
// functions registered with hs.RegisterOnShutdown). When grace is up, it
// cancels the contexts of the requests still running and closes the
// connections still open. It then returns nil.
//
// Requests' contexts do not end with ctx: they end when grace is up, or when
// Serve returns. Shutdown neither waits for nor closes hijacked connections
// (WebSockets); their handlers learn of the stop through the request's
// context, which ends when Serve returns. Serve sets hs.BaseContext to
// arrange that: request contexts carry the values of ctx, or of the
// context hs.BaseContext returned before, if it was set.
//
// When serving fails before ctx ends (the listener broke), Serve closes hs and
// returns the error of http.Server.Serve.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration) error {
	requests, cutRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cutRequests()
	if base := hs.BaseContext; base != nil {
		hs.BaseContext = func(l net.Listener) context.Context {
			c, cancel := context.WithCancel(base(l))
			context.AfterFunc(requests, cancel)
			return c
		}
	} else {
		hs.BaseContext = func(net.Listener) context.Context { return requests }
	}

	stopped := make(chan struct{})
	stopWhenDone := context.AfterFunc(ctx, func() {
		defer close(stopped)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			cutRequests()
			hs.Close()
		}
	})
	err := hs.Serve(ln)
	if stopWhenDone() {
		// ctx has not ended: serving failed on its own.
		hs.Close()
		return err
	}
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
