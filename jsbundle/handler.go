package jsbundle

import (
	"net/http"
	"strconv"
	"strings"
)

// Cache policies of the two names.
const (
	cacheShort     = "public, max-age=300"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// Handler serves GET and HEAD for /_tokenhook/tokenhook.js (cached five
// minutes, revalidated by ETag), /_tokenhook/tokenhook.<hash>.js and the
// chunks /_tokenhook/tokenhook-session.<hash>.js and tokenhook-dpop.<hash>.js (cached a year,
// immutable). It answers 404 for every other path, 405 for other
// methods, gzip when the client accepts it, and 304 when If-None-Match
// names the current ETag.
func (b *Bundle) Handler() http.Handler {
	main := b.serve(cacheShort)
	files := map[string]http.Handler{Prefix + "tokenhook.js": main, b.HashedPath(): b.serve(cacheImmutable)}
	for _, c := range []*Bundle{b.session, b.dpop} {
		if c != nil {
			files[c.HashedPath()] = c.serve(cacheImmutable)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serve answers with b's code under the cache policy.
func (b *Bundle) serve(cache string) http.Handler {
	etag := `"` + b.hash + `"`
	etagGz := `"` + b.hash + `-gz"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Cache-Control", cache)
		h.Set("Vary", "Accept-Encoding")
		h.Set("X-Content-Type-Options", "nosniff")
		body, tag := b.code, etag
		gz := acceptsGzip(r.Header.Values("Accept-Encoding"))
		if gz {
			body, tag = b.gz, etagGz
		}
		h.Set("ETag", tag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag, etagGz) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		if gz {
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

// acceptsGzip reports whether Accept-Encoding lists gzip (or *) with a
// non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			q := ""
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					q = strings.TrimSpace(v)
				}
			}
			if q == "" {
				return true
			}
			if f, err := strconv.ParseFloat(q, 64); err == nil && f > 0 {
				return true
			}
		}
	}
	return false
}

// etagMatch applies If-None-Match's weak comparison: "*" or any listed tag
// equal to one of ours (both encodings carry the same content).
func etagMatch(header string, tags ...string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" {
			return true
		}
		for _, ours := range tags {
			if t == ours {
				return true
			}
		}
	}
	return false
}
