package idp

import (
	"fmt"
	"net/url"
)

// hostPort returns the host:port an issuer URL is served on.
func hostPort(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("idp: issuer %q is not an absolute URL", issuer)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	if u.Scheme == "https" {
		return u.Host + ":443", nil
	}
	return u.Host + ":80", nil
}
