package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/session"
)

// useStore runs the store's operations through a client made from a
// --session-store URL, the way tokenhook serve does.
func useStore(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _ := NewSessions(c, testenv.StoreKey(), "")
	k := session.Key("viewer")
	if err := s.Save(ctx, k, &session.Session{SID: "sid", Subject: "alice", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("save: %v", err)
	}
	if v, err := s.Load(ctx, k); err != nil || v.Subject != "alice" {
		t.Fatalf("load: %+v, %v", v, err)
	}
	if keys, err := s.Find(ctx, "sid", "alice"); err != nil || len(keys) != 1 {
		t.Fatalf("find: %v, %v", keys, err)
	}
	unlock, err := NewLease(c, "").Lock(ctx, k)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	unlock()
	if first, err := NewOnce(c, "").UseOnce(ctx, "state", time.Minute); !first || err != nil {
		t.Fatalf("use once: %v, %v", first, err)
	}
	bus := NewBus(c, "")
	got := make(chan string, 1)
	stop := bus.Subscribe(func(k string) { got <- k })
	defer stop()
	if err := bus.Publish(ctx, k); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("bus event not delivered")
	}
}

// clientFor returns a client made from a --session-store URL.
func clientFor(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	o, err := ParseURL(url, "")
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewUniversalClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPasswordAndDatabase(t *testing.T) {
	r := testenv.StartRedisWith(t, "", "--requirepass", "s3cr@t/pw")
	useStore(t, clientFor(t, "redis://:s3cr%40t%2Fpw@"+r.Addr(t)+"/5"))
	plain := redis.NewClient(&redis.Options{Addr: r.Addr(t), Password: "s3cr@t/pw", DB: 5})
	defer plain.Close()
	if n := plain.DBSize(context.Background()).Val(); n == 0 {
		t.Fatal("nothing written to database 5")
	}
	_, err := NewOnce(clientFor(t, "redis://:wrong@"+r.Addr(t)), "").UseOnce(context.Background(), "k", time.Minute)
	var u *session.UnavailableError
	if !errors.As(err, &u) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir)
	port := strconv.Itoa(testenv.FreePort(t))
	testenv.StartRedisWith(t, "", "--tls-port", port, "--tls-cert-file", filepath.Join(dir, "cert.pem"),
		"--tls-key-file", filepath.Join(dir, "key.pem"), "--tls-ca-cert-file", filepath.Join(dir, "cert.pem"), "--tls-auth-clients", "no")
	url := "rediss://127.0.0.1:" + port
	o, err := ParseURL(url, "")
	if err != nil {
		t.Fatal(err)
	}
	// The system roots do not know the test certificate: refused.
	untrusted := redis.NewUniversalClient(o)
	defer untrusted.Close()
	if err := untrusted.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate was accepted: %v", err)
	}
	o.TLSConfig.RootCAs = pool
	c := redis.NewUniversalClient(o)
	t.Cleanup(func() { c.Close() })
	useStore(t, c)
}

func TestSentinel(t *testing.T) {
	master := testenv.StartRedis(t)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	host, port, _ := net.SplitHostPort(master.Addr(t))
	os.WriteFile(conf, []byte(fmt.Sprintf("sentinel monitor main %s %s 1\n", host, port)), 0o600)
	s1 := testenv.StartRedisWith(t, conf, "--sentinel")
	useStore(t, clientFor(t, "redis+sentinel://"+s1.Addr(t)+",127.0.0.1:1/main/0"))
	direct := redis.NewClient(&redis.Options{Addr: master.Addr(t)})
	defer direct.Close()
	if n := direct.DBSize(context.Background()).Val(); n == 0 {
		t.Fatal("the sentinel client did not write to the master")
	}
}

// TestCluster runs every operation on a one-node Redis Cluster: cluster mode
// refuses commands that span hash slots even on one node.
func TestCluster(t *testing.T) {
	r := testenv.StartRedisWith(t, "", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: r.Addr(t)})
	defer admin.Close()
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(admin.ClusterInfo(ctx).Val(), "cluster_state:ok") {
		if time.Now().After(deadline) {
			t.Fatal("cluster did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	useStore(t, clientFor(t, "redis+cluster://"+r.Addr(t)))
}

// writeCert writes a self-signed certificate for 127.0.0.1 (cert.pem,
// key.pem) and returns a pool trusting it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
