package verify

import (
	"context"
	"testing"
)

// BenchmarkVerify measures a validation served from the cache and a full
// RS256 validation (cache disabled).
func BenchmarkVerify(b *testing.B) {
	ti := newTestIssuer(b)
	tok := ti.token(b, nil)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"cached", nil},
		{"uncached-RS256", func(c *Config) { c.CacheSize = -1 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := ti.verifier(b, bc.mod)
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
