package testenv

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Send does req with client, discards the body and fails tb (with Error, so
// it may run on any goroutine) unless the answer has status want.
func Send(tb testing.TB, client *http.Client, req *http.Request, want int) {
	resp, err := client.Do(req)
	if err != nil {
		tb.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		tb.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
	}
}

// Batch calls do n times spread over workers goroutines and returns the wall
// time it took.
func Batch(n, workers int, do func()) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n / workers {
				do()
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// CompareThroughput measures two ways of serving requests, do[0] and do[1]
// (each sends one request). It runs one Batch of each to warm connections and
// caches, resets the timer, then for b.N rounds runs one Batch of each,
// alternating which goes first so neither gains from order. It reports
// "<names[i]>-req/s" for both and "ratio", the time of do[0] over the time
// of do[1] (the throughput of do[1] over that of do[0]).
func CompareThroughput(b *testing.B, n, workers int, names [2]string, do [2]func()) {
	for _, f := range do {
		Batch(n, workers, f)
	}
	var took [2]time.Duration
	b.ResetTimer()
	for i := range b.N {
		for k := range do {
			j := (i + k) % len(do)
			took[j] += Batch(n, workers, do[j])
		}
	}
	total := float64(b.N * n)
	b.ReportMetric(total/took[0].Seconds(), names[0]+"-req/s")
	b.ReportMetric(total/took[1].Seconds(), names[1]+"-req/s")
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "ratio")
}
