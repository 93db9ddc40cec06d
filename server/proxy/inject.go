package proxy

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// modifyResponse inserts Config.InjectScript into HTML pages. Only 200
// answers to GET with an identity or gzip body up to MaxInjectSize are
// rewritten; everything else passes through unchanged.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	if p.cfg.InjectScript == "" || resp.Request == nil || resp.Request.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return nil
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || (mt != "text/html" && mt != "application/xhtml+xml") {
		return nil
	}
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" {
		return nil
	}
	limit := p.cfg.MaxInjectSize
	buf, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("proxy: read HTML body: %w", err)
	}
	if int64(len(buf)) > limit {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	page := buf
	if enc == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(buf))
		if err == nil {
			page, err = io.ReadAll(io.LimitReader(zr, limit+1))
		}
		if err != nil || int64(len(page)) > limit {
			// Not decodable or too big: forward the original bytes.
			resp.Body = io.NopCloser(bytes.NewReader(buf))
			return nil
		}
	}
	out := insertScript(page, p.cfg.InjectScript)
	if enc == "gzip" {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		if _, err := zw.Write(out); err != nil {
			return fmt.Errorf("proxy: gzip HTML: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("proxy: gzip HTML: %w", err)
		}
		out = zb.Bytes()
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("ETag") // the body changed
	resp.Header.Del("Content-MD5")
	resp.TransferEncoding = nil
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// insertScript puts tag before </head>, else right after the <body …> tag,
// else at the start of the page.
func insertScript(page []byte, tag string) []byte {
	lower := bytes.ToLower(page)
	at := bytes.Index(lower, []byte("</head>"))
	if at < 0 {
		if b := bytes.Index(lower, []byte("<body")); b >= 0 {
			if end := bytes.IndexByte(lower[b:], '>'); end >= 0 {
				at = b + end + 1
			}
		}
	}
	if at < 0 {
		at = 0
	}
	out := make([]byte, 0, len(page)+len(tag))
	out = append(out, page[:at]...)
	out = append(out, tag...)
	return append(out, page[at:]...)
}
