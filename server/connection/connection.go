// Package connection describes the OAuth connections a viewer can link
// besides the sign-in provider (Databricks, Snowflake, GitHub, …) and the
// provider presets that fill their endpoints and scopes.
package connection

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Spec is one configured connection, as written in the config file.
type Spec struct {
	// Name identifies the connection in URLs, the exchange endpoint's
	// audience and the browser hook's rules.
	Name string `yaml:"name"`
	// Preset fills endpoints and scopes: oidc, github, google, entra, okta,
	// keycloak, databricks, snowflake. Empty means explicit endpoints.
	Preset string `yaml:"preset"`
	// Issuer is the OpenID issuer (preset oidc, or an override for okta).
	Issuer string `yaml:"issuer"`
	// Host is the provider's base URL: the Okta domain, Keycloak server,
	// Databricks workspace or Snowflake account URL.
	Host string `yaml:"host"`
	// Tenant is the Microsoft Entra ID tenant (id or domain).
	Tenant string `yaml:"tenant"`
	// Realm is the Keycloak realm.
	Realm string `yaml:"realm"`
	// AuthURL and TokenURL are explicit endpoints (no preset).
	AuthURL  string `yaml:"auth-url"`
	TokenURL string `yaml:"token-url"`
	// ClientID and ClientSecret (or ClientSecretFile) are this connection's client.
	ClientID         string `yaml:"client-id"`
	ClientSecret     string `yaml:"client-secret"`
	ClientSecretFile string `yaml:"client-secret-file"`
	// Scopes replace the preset's default scopes when set.
	Scopes []string `yaml:"scopes"`
}

// Endpoints is a resolved connection.
type Endpoints struct {
	// Issuer, when set, is discovered at start-up (OpenID Connect) and its
	// endpoints win over AuthURL and TokenURL.
	Issuer   string
	AuthURL  string
	TokenURL string
	Scopes   []string
	// AuthParams are extra authorization request parameters (Google needs
	// access_type=offline to issue refresh tokens).
	AuthParams map[string]string
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// ReservedName is the name under which the sign-in provider's own token is
// available from the exchange endpoint; no connection may use it.
const ReservedName = "signin"

// Error is a configuration error naming the connection and the field.
type Error struct {
	Connection, Field, Reason string
}

func (e *Error) Error() string {
	if e.Connection == "" {
		return fmt.Sprintf("connections: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("connections[%s].%s: %s", e.Connection, e.Field, e.Reason)
}

// Resolve checks a Spec and returns its endpoints.
func Resolve(s Spec) (Endpoints, error) {
	bad := func(field, reason string) (Endpoints, error) {
		return Endpoints{}, &Error{Connection: s.Name, Field: field, Reason: reason}
	}
	if !namePattern.MatchString(s.Name) {
		return bad("name", fmt.Sprintf("%q must be 1-40 lower-case letters, digits, '-' or '_'", s.Name))
	}
	if s.Name == ReservedName {
		return bad("name", fmt.Sprintf("%q is reserved for the sign-in provider", s.Name))
	}
	if s.ClientID == "" {
		return bad("client-id", "required")
	}
	host := strings.TrimSuffix(s.Host, "/")
	needHost := func(example string) error {
		if host == "" {
			return &Error{s.Name, "host", "required for preset " + s.Preset + " (e.g. " + example + ")"}
		}
		if u, err := url.Parse(host); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return &Error{s.Name, "host", fmt.Sprintf("%q must be a base URL like %s", s.Host, example)}
		}
		return nil
	}
	var e Endpoints
	switch s.Preset {
	case "":
		if s.AuthURL == "" || s.TokenURL == "" {
			if s.Issuer != "" {
				e = Endpoints{Issuer: s.Issuer, Scopes: []string{"openid", "email", "profile", "offline_access"}}
				break
			}
			return bad("preset", "set a preset, an issuer, or auth-url and token-url")
		}
		e = Endpoints{AuthURL: s.AuthURL, TokenURL: s.TokenURL}
	case "oidc":
		if s.Issuer == "" {
			return bad("issuer", "required for preset oidc")
		}
		e = Endpoints{Issuer: s.Issuer, Scopes: []string{"openid", "email", "profile", "offline_access"}}
	case "github":
		e = Endpoints{AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
			Scopes: []string{"read:user", "user:email"}}
	case "google":
		e = Endpoints{AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token",
			Scopes:     []string{"openid", "email", "profile"},
			AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"}}
	case "entra":
		if s.Tenant == "" || strings.ContainsAny(s.Tenant, "/?#") {
			return bad("tenant", "required for preset entra: the tenant id or domain (or organizations, common)")
		}
		base := "https://login.microsoftonline.com/" + url.PathEscape(s.Tenant) + "/oauth2/v2.0/"
		e = Endpoints{AuthURL: base + "authorize", TokenURL: base + "token", Scopes: []string{"openid", "profile", "email", "offline_access"}}
	case "okta":
		if err := needHost("https://example.okta.com"); err != nil {
			return Endpoints{}, err
		}
		issuer := s.Issuer
		if issuer == "" {
			issuer = host + "/oauth2/default" // Okta's default custom authorization server
		}
		e = Endpoints{AuthURL: issuer + "/v1/authorize", TokenURL: issuer + "/v1/token", Scopes: []string{"openid", "profile", "email", "offline_access"}}
	case "keycloak":
		if err := needHost("https://keycloak.example.com"); err != nil {
			return Endpoints{}, err
		}
		if s.Realm == "" || strings.ContainsAny(s.Realm, "/?#") {
			return bad("realm", "required for preset keycloak")
		}
		base := host + "/realms/" + url.PathEscape(s.Realm) + "/protocol/openid-connect/"
		e = Endpoints{AuthURL: base + "auth", TokenURL: base + "token", Scopes: []string{"openid", "profile", "email", "offline_access"}}
	case "databricks":
		if err := needHost("https://adb-1234567890123456.7.azuredatabricks.net"); err != nil {
			return Endpoints{}, err
		}
		e = Endpoints{AuthURL: host + "/oidc/v1/authorize", TokenURL: host + "/oidc/v1/token", Scopes: []string{"all-apis", "offline_access"}}
	case "snowflake":
		if err := needHost("https://myorg-account.snowflakecomputing.com"); err != nil {
			return Endpoints{}, err
		}
		e = Endpoints{AuthURL: host + "/oauth/authorize", TokenURL: host + "/oauth/token-request", Scopes: []string{"refresh_token"}}
	default:
		return bad("preset", fmt.Sprintf("unknown preset %q (known: %s)", s.Preset, strings.Join(Presets, ", ")))
	}
	if len(s.Scopes) > 0 {
		e.Scopes = s.Scopes
	}
	return e, nil
}

// Presets lists the known preset names.
var Presets = []string{"oidc", "github", "google", "entra", "okta", "keycloak", "databricks", "snowflake"}
