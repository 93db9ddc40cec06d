// Package redisstore keeps tokenhook's shared state in Redis, so several
// replicas serve the same viewers: sessions (sealed like the file store's),
// the refresh lease, one-time keys and the "session ended" bus. It works with
// a single node, Sentinel and Cluster through go-redis's UniversalClient, and
// uses no command that spans hash slots.
package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of every connection: a Redis that does not answer turns into an
// error quickly instead of holding requests.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = time.Second
)

// ParseURL turns a --session-store URL into client options. The forms are
//
//	redis://[user:password@]host[:port][/db]                 one node (port 6379)
//	rediss://…                                               the same over TLS
//	redis+sentinel://[user:password@]host[:port],host[:port]/master[/db]
//	                                                         Sentinel (port 26379)
//	redis+cluster://[user:password@]host[:port],host[:port]  Cluster seed nodes
//
// and rediss+sentinel, rediss+cluster for TLS. A non-empty password (read
// from a file by the caller) replaces the URL's. Errors are one line and
// never contain the password.
func ParseURL(raw, password string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("not a URL: want redis://host:port/db, rediss://, redis+sentinel:// or redis+cluster://")
	}
	base, mode, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" || (mode != "" && mode != "sentinel" && mode != "cluster") {
		return nil, fmt.Errorf("unknown scheme %q: want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster", scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return nil, errors.New("query and fragment are not supported")
	}
	// One retry and short dial retries: with Redis down a request fails in
	// well under a second (503) instead of holding the viewer for seconds.
	// Request contexts bound calls too (a viewer who left stops waiting).
	o := &redis.UniversalOptions{DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
		MaxRetries: 1, DialerRetries: 2, DialerRetryTimeout: 20 * time.Millisecond, ContextTimeoutEnabled: true}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if o.Username, err = url.PathUnescape(user); err != nil {
			return nil, errors.New("bad percent-encoding in the user name")
		}
		if o.Password, err = url.PathUnescape(pass); err != nil {
			return nil, errors.New("bad percent-encoding in the password")
		}
	}
	if password != "" {
		o.Password = password
	}
	hosts, path, _ := strings.Cut(rest, "/")
	defPort := "6379"
	if mode == "sentinel" {
		defPort = "26379"
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h, defPort)
		if err != nil {
			return nil, err
		}
		o.Addrs = append(o.Addrs, addr)
	}
	if mode == "" && len(o.Addrs) > 1 {
		return nil, errors.New("several hosts need redis+sentinel:// or redis+cluster://")
	}
	parts := strings.Split(path, "/")
	if path == "" {
		parts = nil
	}
	switch mode {
	case "sentinel":
		if len(parts) == 0 || parts[0] == "" {
			return nil, errors.New("redis+sentinel:// needs the master name: redis+sentinel://host:port,host:port/master[/db]")
		}
		o.MasterName, parts = parts[0], parts[1:]
	case "cluster":
		if len(parts) > 0 {
			return nil, errors.New("redis+cluster:// takes no path: a cluster has only database 0")
		}
		o.IsClusterMode = true
	}
	if len(parts) > 1 {
		return nil, errors.New("too many path segments: want /db")
	}
	if len(parts) == 1 && parts[0] != "" {
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return nil, fmt.Errorf("database %q is not a number", parts[0])
		}
		o.DB = db
	}
	if base == "rediss" {
		// No ServerName: each connection checks the certificate against
		// the name it dialled, so every Sentinel or Cluster node is
		// verified under its own name.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// hostPort validates one host[:port] and adds the default port.
func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", errors.New("missing host")
	}
	if strings.ContainsAny(h, " \t") {
		return "", fmt.Errorf("host %q contains a space", h)
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port (or a bare IPv6 address in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		if strings.Contains(host, ":") && !strings.HasPrefix(h, "[") {
			return "", fmt.Errorf("host %q: write IPv6 addresses in brackets, like [::1]:6379", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("host %q has no name", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("host %q: port must be a number from 1 to 65535", h)
	}
	return net.JoinHostPort(host, port), nil
}

// Open returns a client of the Redis that raw names (see ParseURL). It does
// not wait for Redis: a Redis that is down at start is an error of each call
// until it comes up. The caller closes the client.
func Open(raw, password string) (redis.UniversalClient, error) {
	o, err := ParseURL(raw, password)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(o), nil
}

// IsURL reports whether a --session-store value names Redis.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://") ||
		strings.HasPrefix(s, "redis+") || strings.HasPrefix(s, "rediss+")
}
