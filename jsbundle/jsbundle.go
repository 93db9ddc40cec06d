// Package jsbundle builds tokenhook's browser script from the embedded
// TypeScript sources (package injector) with esbuild's Go API, in memory, at
// start-up, and serves it: a short-cached /_tokenhook/tokenhook.js and an
// immutable, content-hashed /_tokenhook/tokenhook.<hash>.js, plus the lazy
// chunks the main script loads on demand (by their SRI): the session chunk
// /_tokenhook/tokenhook-session.<hash>.js and, in dpop mode, the DPoP chunk
// /_tokenhook/tokenhook-dpop.<hash>.js, each with an ETag and a gzip variant
// compressed once at build time. It also renders the matching <script> tag
// with Subresource Integrity.
package jsbundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/tokenhook/tokenhook/injector"
)

// Prefix is the URL path under which the script is served.
const Prefix = "/_tokenhook/"

// Bundle is a built script: immutable after Build, safe for concurrent use.
type Bundle struct {
	name string // file name stem: "tokenhook", SessionName or DPoPName
	code []byte // minified JavaScript
	gz   []byte // code, gzip-compressed
	hash string // first 16 hex digits of sha256(code)
	sri  string // "sha384-…"
	// session is the session chunk the main script loads on demand (nil
	// for a bundle built by BuildFS).
	session *Bundle
	// dpop is the DPoP chunk (key and proofs), loaded only in dpop mode
	// (nil for a bundle built by BuildFS).
	dpop *Bundle
}

// SessionName is the file name stem of the session chunk (entry
// src/session.ts): everything about the viewer's session beyond sending the
// token the page has: sign-in (prompt, popup hand-over, login redirect), the
// gate's hold, sign-out, connect, the refresh-and-replay after a refused
// token, and the Dash renderer hooks.
const SessionName = "tokenhook-session"

// DPoPName is the file name stem of the DPoP chunk.
const DPoPName = "tokenhook-dpop"

// Build bundles injector.Sources: first the chunks (the session chunk, entry
// src/session.ts, and the DPoP chunk, entry src/dpop.ts), then the main
// script (entry src/index.ts), into which the chunks' hashed file names and
// SRI are compiled (__SESSION__, __SESSION_SRI__, __DPOP__, __DPOP_SRI__),
// so the main script loads exactly these chunks, checked by integrity, and
// the route prefix (__PREFIX__, Prefix: the script's default base). The
// chunks are served beside the main script (see Handler) and are reachable
// as Session and DPoP.
func Build() (*Bundle, error) {
	chunk, err := buildEntry(injector.Sources, "src/session.ts", SessionName, nil)
	if err != nil {
		return nil, err
	}
	dp, err := buildEntry(injector.Sources, "src/dpop.ts", DPoPName, nil)
	if err != nil {
		return nil, err
	}
	b, err := buildEntry(injector.Sources, "src/index.ts", "tokenhook", map[string]string{
		"__PREFIX__":      strconvQuote(Prefix),
		"__SESSION__":     strconvQuote(chunk.Filename()),
		"__SESSION_SRI__": strconvQuote(chunk.sri256()),
		"__DPOP__":        strconvQuote(dp.Filename()),
		"__DPOP_SRI__":    strconvQuote(dp.sri256()),
	})
	if err != nil {
		return nil, err
	}
	b.session, b.dpop = chunk, dp
	return b, nil
}

// strconvQuote renders s as a JavaScript string literal (s is ASCII without
// quotes or backslashes: a file name or an SRI value).
func strconvQuote(s string) string { return `"` + s + `"` }

// sri256 is a "sha256-…" integrity value: shorter than SRI's sha384 and as
// good for this (the main script embeds it; every byte there counts).
func (b *Bundle) sri256() string {
	sum := sha256.Sum256(b.code)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// BuildFS bundles the TypeScript entry point entry from fsys: bundled,
// minified, one IIFE, no source map. Imports must be relative ("./match");
// the script has no runtime dependencies, so a bare import is an error.
//
// Target: ES2019 plus Chrome 80, Firefox 78 and Safari 13. Tableau Desktop
// and Tableau Server's embedded views run dashboards (and extensions) in
// older embedded Chromium builds (Qt WebEngine / CEF around Chromium 80-87),
// and corporate desktops keep old Firefox ESR and Safari versions; at that
// level optional chaining and ?? are lowered, while async/await, fetch and
// WeakMap (all used natively) are available everywhere.
func BuildFS(fsys fs.FS, entry string) (*Bundle, error) {
	return buildEntry(fsys, entry, "tokenhook", nil)
}

func buildEntry(fsys fs.FS, entry, name string, define map[string]string) (*Bundle, error) {
	res := api.Build(api.BuildOptions{
		Define:            define,
		EntryPoints:       []string{entry},
		Bundle:            true,
		Write:             false,
		Outfile:           "tokenhook.js",
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2019,
		Engines:           []api.Engine{{Name: api.EngineChrome, Version: "80"}, {Name: api.EngineFirefox, Version: "78"}, {Name: api.EngineSafari, Version: "13"}},
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
		Charset:           api.CharsetASCII,
		LogLevel:          api.LogLevelSilent,
		Plugins:           []api.Plugin{fsPlugin(fsys)},
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("jsbundle: building %s: %s", entry, strings.TrimSpace(strings.Join(msgs, "\n")))
	}
	if len(res.OutputFiles) != 1 {
		return nil, fmt.Errorf("jsbundle: building %s: %d output files, want 1", entry, len(res.OutputFiles))
	}
	return newBundle(name, res.OutputFiles[0].Contents)
}

func newBundle(name string, code []byte) (*Bundle, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("jsbundle: gzip: %w", err)
	}
	if _, err := zw.Write(code); err != nil {
		return nil, fmt.Errorf("jsbundle: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("jsbundle: gzip: %w", err)
	}
	sum := sha256.Sum256(code)
	sri := sha512.Sum384(code)
	return &Bundle{
		name: name,
		code: code,
		gz:   gz.Bytes(),
		hash: hex.EncodeToString(sum[:8]),
		sri:  "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
	}, nil
}

// fsPlugin resolves and loads every module from fsys, so esbuild never
// touches the disk. Paths live in the "embed" namespace.
func fsPlugin(fsys fs.FS) api.Plugin {
	return api.Plugin{
		Name: "embedfs",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: ".*"}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				p := a.Path
				if a.Kind != api.ResolveEntryPoint {
					if !strings.HasPrefix(p, "./") && !strings.HasPrefix(p, "../") {
						return api.OnResolveResult{}, fmt.Errorf("import %q: only relative imports of the embedded sources are allowed", p)
					}
					p = path.Join(path.Dir(a.Importer), p)
				}
				for _, c := range []string{p, p + ".ts", strings.TrimSuffix(p, ".js") + ".ts", p + "/index.ts"} {
					if st, err := fs.Stat(fsys, c); err == nil && !st.IsDir() {
						return api.OnResolveResult{Path: c, Namespace: "embed"}, nil
					}
				}
				return api.OnResolveResult{}, fmt.Errorf("import %q: no such source file", a.Path)
			})
			b.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: "embed"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
				src, err := fs.ReadFile(fsys, a.Path)
				if err != nil {
					return api.OnLoadResult{}, fmt.Errorf("reading %s: %w", a.Path, err)
				}
				s := string(src)
				loader := api.LoaderTS
				if strings.HasSuffix(a.Path, ".js") {
					loader = api.LoaderJS
				}
				return api.OnLoadResult{Contents: &s, Loader: loader}, nil
			})
		},
	}
}

// Code returns the minified script (the caller must not modify it).
func (b *Bundle) Code() []byte { return b.code }

// Gzip returns the gzip-compressed script (the caller must not modify it).
func (b *Bundle) Gzip() []byte { return b.gz }

// Hash returns the content hash used in the file name (16 hex digits).
func (b *Bundle) Hash() string { return b.hash }

// Filename returns "tokenhook.<hash>.js" ("tokenhook-session.<hash>.js"
// for the session chunk, "tokenhook-dpop.<hash>.js" for the DPoP chunk).
func (b *Bundle) Filename() string { return b.name + "." + b.hash + ".js" }

// HashedPath returns Prefix + Filename().
func (b *Bundle) HashedPath() string { return Prefix + b.Filename() }

// SRI returns the Subresource Integrity value, "sha384-<base64>".
func (b *Bundle) SRI() string { return b.sri }

// WriteFile writes the hashed file into dir (for `tokenhook bundle --out
// DIR`) and returns the path written; the chunks, if any, are written
// beside it (the main script loads it from its configured base). Each file
// is written under a temporary name and renamed, so a reader never sees
// half a file.
func (b *Bundle) WriteFile(dir string) (string, error) {
	for _, c := range []*Bundle{b.session, b.dpop} {
		if c == nil {
			continue
		}
		if _, err := c.WriteFile(dir); err != nil {
			return "", err
		}
	}
	f, err := os.CreateTemp(dir, ".tokenhook-*.js")
	if err != nil {
		return "", fmt.Errorf("jsbundle: write bundle: %w", err)
	}
	_, werr := f.Write(b.code)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("jsbundle: write bundle: %w", err)
	}
	dst := filepath.Join(dir, b.Filename())
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("jsbundle: write bundle: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("jsbundle: write bundle: %w", err)
	}
	return dst, nil
}

var attrName = regexp.MustCompile(`^[a-zA-Z_:][-a-zA-Z0-9_:.]*$`)

// ScriptTag returns the <script> element loading the hashed path with its
// integrity and crossorigin attributes. Each extra attribute is "name=value"
// (the value is raw text; it is HTML-escaped here) or a bare "name" for a
// boolean attribute, e.g. ScriptTag("data-methods=POST,PUT", "defer").
// Attributes with an invalid name, or that would replace src, integrity or
// crossorigin, are left out.
func (b *Bundle) ScriptTag(attrs ...string) string {
	return b.ScriptTagSrc(b.HashedPath(), attrs...)
}

// ScriptTagSrc is ScriptTag with another src, for a file written by
// WriteFile and hosted elsewhere.
func (b *Bundle) ScriptTagSrc(src string, attrs ...string) string {
	var s strings.Builder
	s.WriteString(`<script src="`)
	s.WriteString(html.EscapeString(src))
	s.WriteString(`" integrity="`)
	s.WriteString(b.sri)
	s.WriteString(`" crossorigin="anonymous"`)
	for _, a := range attrs {
		name, value, hasValue := strings.Cut(a, "=")
		switch strings.ToLower(name) {
		case "src", "integrity", "crossorigin":
			continue
		}
		if !attrName.MatchString(name) {
			continue
		}
		s.WriteByte(' ')
		s.WriteString(name)
		if hasValue {
			s.WriteString(`="`)
			s.WriteString(html.EscapeString(value))
			s.WriteByte('"')
		}
	}
	s.WriteString("></script>")
	return s.String()
}
