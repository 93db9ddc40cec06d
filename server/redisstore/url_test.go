package redisstore

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, password string
		addrs        []string
		db           int
		master       string
		cluster, tls bool
		user, pass   string
		err          string // substring of the error; "" = no error
	}{
		{in: "redis://localhost", addrs: []string{"localhost:6379"}},
		{in: "redis://127.0.0.1:7000/3", addrs: []string{"127.0.0.1:7000"}, db: 3},
		{in: "redis://:s3cr%40t@h:1/", addrs: []string{"h:1"}, pass: "s3cr@t"},
		{in: "redis://app:p@ss/w@rd@h", addrs: []string{"h:6379"}, user: "app", pass: "p@ss/w@rd"},
		{in: "redis://:urlpass@h", password: "filepass", addrs: []string{"h:6379"}, pass: "filepass"},
		{in: "rediss://cache.example.com:6380/0", addrs: []string{"cache.example.com:6380"}, tls: true},
		{in: "redis://[::1]:6379", addrs: []string{"[::1]:6379"}},
		{in: "redis://[::1]", addrs: []string{"[::1]:6379"}},
		{in: "redis+sentinel://s1,s2:26380/mymaster/2", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster", db: 2},
		{in: "rediss+sentinel://:pw@s1/mymaster", addrs: []string{"s1:26379"}, master: "mymaster", tls: true, pass: "pw"},
		{in: "redis+cluster://n1:7000,n2:7001,n3", addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, cluster: true},
		{in: "rediss+cluster://n1:7000", addrs: []string{"n1:7000"}, cluster: true, tls: true},

		{in: "localhost:6379", err: "not a URL"},
		{in: "http://h", err: "unknown scheme"},
		{in: "redis+raft://h", err: "unknown scheme"},
		{in: "redis://h?db=1", err: "query"},
		{in: "redis://:hunter2@h?x", err: "query"},
		{in: "redis://", err: "missing host"},
		{in: "redis://:hunter2@", err: "missing host"},
		{in: "redis://h1,h2", err: "several hosts"},
		{in: "redis://h:0", err: "port"},
		{in: "redis://:hunter2@h:99999", err: "port"},
		{in: "redis://h:x", err: "port"},
		{in: "redis://h/x", err: "not a number"},
		{in: "redis://h/1/2", err: "too many"},
		{in: "redis://::1", err: "brackets"},
		{in: "redis+sentinel://s1", err: "master name"},
		{in: "redis+cluster://n1/0", err: "no path"},
		{in: "redis://:%zz@h", err: "percent-encoding"},
		{in: "redis://h,,h2", err: "missing host"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := ParseURL(tc.in, tc.password)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				for _, secret := range []string{"hunter2", "%zz"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error %q echoes the password", err)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q is not one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Addrs, tc.addrs) || o.DB != tc.db || o.MasterName != tc.master || o.IsClusterMode != tc.cluster ||
				(o.TLSConfig != nil) != tc.tls || o.Username != tc.user || o.Password != tc.pass {
				t.Fatalf("got addrs %v db %d master %q cluster %v tls %v user %q pass %q", o.Addrs, o.DB, o.MasterName, o.IsClusterMode, o.TLSConfig != nil, o.Username, o.Password)
			}
			if o.DialTimeout == 0 || o.ReadTimeout == 0 {
				t.Fatal("no timeouts")
			}
		})
	}
}
