package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops is how many X-Forwarded-For entries Client reads, from the right;
// a longer chain of trusted proxies is not a deployment anyone runs.
const maxHops = 16

// Proxies are the reverse proxies (load balancers) in front of a server
// whose X-Forwarded-For header is believed. The zero value believes none:
// every client is its connection's peer.
type Proxies []netip.Prefix

// ParseProxies reads a comma- or space-separated list of networks (CIDR, like
// 10.0.0.0/8) and single addresses.
func ParseProxies(s string) (Proxies, error) {
	var p Proxies
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if a, err := netip.ParseAddr(f); err == nil {
			a = a.Unmap()
			p = append(p, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		n, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a network like 10.0.0.0/8", f)
		}
		p = append(p, n.Masked())
	}
	return p, nil
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the limit key of the client that sent r: its IP address,
// an IPv6 client by its /64, or "" when r's peer is no IP address (a Unix
// socket's). The client is r's peer, unless the peer is one of p: then X-Forwarded-For is read from
// the right (each proxy appends the address it received the request from),
// and the first address that is not one of p is the client. What stands
// left of it was written by that client or its own proxies and is never
// believed. When an entry is not an address, the proxy that added it is
// taken as the client; when every entry is a trusted proxy, the leftmost.
func (p Proxies) Client(r *http.Request) string {
	peer, ok := addrOf(r.RemoteAddr)
	switch {
	case !ok:
		return ""
	case len(p) == 0 || !p.trusts(peer):
		return keyOf(peer)
	}
	client := peer
	hops := 0
	vals := r.Header.Values("X-Forwarded-For")
	for i := len(vals) - 1; i >= 0 && hops < maxHops; i-- {
		v := vals[i]
		for more := true; more && hops < maxHops; hops++ {
			entry := v
			if k := strings.LastIndexByte(v, ','); k >= 0 {
				entry, v = v[k+1:], v[:k]
			} else {
				more = false
			}
			a, ok := addrOf(strings.TrimSpace(entry))
			if !ok {
				return keyOf(client)
			}
			client = a
			if !p.trusts(a) {
				return keyOf(a)
			}
		}
	}
	return keyOf(client)
}
