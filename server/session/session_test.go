package session

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

func TestStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := NewFile(dir, testenv.StoreKey(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store Store
	}{{"memory", NewMemory()}, {"file", fs}} {
		t.Run(tc.name, func(t *testing.T) {
			key := Key("id-" + tc.name)
			if _, err := tc.store.Load(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing session: err = %v", err)
			}
			in := &Session{Subject: "u1", Token: Token{AccessToken: "at", RefreshToken: "rt"}, ExpiresAt: time.Now().Add(time.Hour)}
			if err := tc.store.Save(ctx, key, in); err != nil {
				t.Fatal(err)
			}
			in.AccessToken = "mutated after save"
			out, err := tc.store.Load(ctx, key)
			if err != nil || out.AccessToken != "at" || out.RefreshToken != "rt" {
				t.Fatalf("load = %+v, %v", out, err)
			}
			out.AccessToken = "mutated after load"
			if again, _ := tc.store.Load(ctx, key); again.AccessToken != "at" {
				t.Fatalf("store shares memory with callers")
			}
			ended := &Session{Token: Token{AccessToken: "x"}, ExpiresAt: time.Now().Add(-time.Second)}
			tc.store.Save(ctx, Key("ended"), ended)
			if _, err := tc.store.Load(ctx, Key("ended")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("ended session loaded: %v", err)
			}
			if err := tc.store.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := tc.store.Load(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted session loaded: %v", err)
			}
		})
	}
}

func TestFileSurvivesReopenAndIsEncrypted(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), testenv.StoreKey()
	a, _ := NewFile(dir, key, 0)
	k := Key("abc")
	secret := "refresh-token-plaintext-marker"
	if err := a.Save(ctx, k, &Session{Token: Token{RefreshToken: secret}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, k+".session"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("session file holds the refresh token in clear text")
	}
	st, _ := os.Stat(filepath.Join(dir, k+".session"))
	if st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("session file mode %v readable by others", st.Mode())
	}
	b, _ := NewFile(dir, key, 0) // a restarted process
	v, err := b.Load(ctx, k)
	if err != nil || v.RefreshToken != secret {
		t.Fatalf("after reopen: %+v %v", v, err)
	}
	c, _ := NewFile(dir, testenv.StoreKey(), 0) // another cookie secret
	if _, err := c.Load(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("loaded with the wrong key: %v", err)
	}
	if _, err := b.Load(ctx, "../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("path key: %v", err)
	}
	// Damaged file: not found, never a panic.
	os.WriteFile(filepath.Join(dir, Key("bad")+".session"), []byte("short"), 0o600)
	if _, err := b.Load(ctx, Key("bad")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("damaged: %v", err)
	}
	if n, err := b.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want the damaged file", n, err)
	}
}

func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	fs, _ := NewFile(b.TempDir(), testenv.StoreKey(), 0)
	k := Key("bench")
	fs.Save(ctx, k, &Session{Token: Token{AccessToken: string(make([]byte, 900)), RefreshToken: "rt"}, ExpiresAt: time.Now().Add(time.Hour)})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fs.Load(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("from-disk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fs.cache.delete(k)
			if _, err := fs.Load(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
}
