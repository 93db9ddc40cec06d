package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestProxiesClient(t *testing.T) {
	lb, err := ParseProxies("10.0.0.0/8, 192.0.2.1 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer, want string
		proxies          Proxies
		xff              []string
	}{
		{"no proxies trusted: the peer", "10.1.1.1:80", "10.1.1.1", nil, []string{"198.51.100.7"}},
		{"untrusted peer: its header is ignored", "203.0.113.9:80", "203.0.113.9", lb, []string{"198.51.100.7"}},
		{"trusted peer, no header: the peer", "10.1.1.1:80", "10.1.1.1", lb, nil},
		{"trusted peer: the address it saw", "10.1.1.1:80", "198.51.100.7", lb, []string{"198.51.100.7"}},
		{"a client's own entries stand left and are not believed", "10.1.1.1:80", "198.51.100.7", lb, []string{"1.2.3.4, 198.51.100.7"}},
		{"a chain of trusted proxies is skipped", "10.1.1.1:80", "198.51.100.7", lb, []string{"1.2.3.4, 198.51.100.7, 192.0.2.1, 10.9.9.9"}},
		{"several headers are one list", "10.1.1.1:80", "198.51.100.7", lb, []string{"1.2.3.4", "198.51.100.7", "10.9.9.9"}},
		{"IPv6 client by its /64, brackets allowed", "10.1.1.1:80", "2001:db8:1:2::/64", lb, []string{"[2001:db8:1:2::7]"}},
		{"IPv6 with a port", "[2001:db8:ffff::1]:443", "2001:db8:1:2::/64", lb, []string{"[2001:db8:1:2::7]:5555"}},
		{"IPv4-mapped peer", "[::ffff:10.1.1.1]:80", "198.51.100.7", lb, []string{"198.51.100.7"}},
		{"garbage entry: the proxy that added it", "10.1.1.1:80", "10.9.9.9", lb, []string{"198.51.100.7, not-an-ip, 10.9.9.9"}},
		{"empty entry: the proxy that added it", "10.1.1.1:80", "10.1.1.1", lb, []string{"198.51.100.7,"}},
		{"only trusted entries: the leftmost", "10.1.1.1:80", "10.3.3.3", lb, []string{"10.3.3.3, 10.2.2.2"}},
		{"too many trusted hops: the last one read", "10.1.1.1:80", "10.2.2.2", lb, []string{"198.51.100.7," + strings.Repeat(" 10.2.2.2,", 40) + " 10.2.2.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.proxies.Client(r); got != tc.want {
				t.Errorf("Client = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", "[]", ""},
		{"10.0.0.0/8", "[10.0.0.0/8]", ""},
		{"10.1.2.3/8,192.0.2.1", "[10.0.0.0/8 192.0.2.1/32]", ""},
		{"::ffff:192.0.2.1 2001:db8::/32", "[192.0.2.1/32 2001:db8::/32]", ""},
		{"10.0.0.0/8, lb.internal", "", `"lb.internal" is neither`},
		{"10.0.0.0/33", "", `"10.0.0.0/33" is neither`},
	} {
		p, err := ParseProxies(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseProxies(%q): err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseProxies(%q): %v", tc.in, err)
		}
		if got := fmtPrefixes(p); got != tc.want {
			t.Errorf("ParseProxies(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func fmtPrefixes(p Proxies) string {
	s := make([]string, len(p))
	for i, n := range p {
		s[i] = n.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// BenchmarkClient is the per-request cost of finding the client: the peer
// alone, and behind a trusted balancer with a forwarded chain.
func BenchmarkClient(b *testing.B) {
	lb, _ := ParseProxies("10.0.0.0/8")
	for _, bc := range []struct {
		name    string
		proxies Proxies
		xff     string
	}{
		{"peer", nil, ""},
		{"behind-balancer", lb, "1.2.3.4, 198.51.100.7, 10.9.9.9"},
	} {
		r := &http.Request{RemoteAddr: "10.1.1.1:4000", Header: http.Header{"X-Forwarded-For": {bc.xff}}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.proxies.Client(r)
			}
		})
	}
}

// FuzzClient: whatever the peer and the header, Client neither panics nor
// lets a peer that is not trusted choose its key, and a key is "", an
// address or an IPv6 /64.
func FuzzClient(f *testing.F) {
	for _, s := range [][2]string{
		{"10.1.1.1:80", "198.51.100.7"}, {"10.1.1.1:80", "1.2.3.4, [2001:db8::1]:5, 10.2.2.2"},
		{"203.0.113.9:80", "10.0.0.1"}, {"[::ffff:10.1.1.1]:80", ",,,"}, {"@", "1.2.3.4"},
	} {
		f.Add(s[0], s[1])
	}
	lb, _ := ParseProxies("10.0.0.0/8 2001:db8:ffff::/48")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := lb.Client(r)
		if a, ok := addrOf(peer); !ok || !lb.trusts(a) {
			if want := Proxies(nil).Client(&http.Request{RemoteAddr: peer}); got != want {
				t.Fatalf("untrusted peer %q chose key %q, want %q", peer, got, want)
			}
		}
		if got == "" {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			if p, err := netip.ParsePrefix(got); err != nil || p.Bits() != 64 {
				t.Fatalf("key %q is neither an address nor a /64", got)
			}
		}
	})
}
