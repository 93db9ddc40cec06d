package connection

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		spec         Spec
		auth, token  string
		issuer       string
		scopes       string
		offlineParam bool
	}{
		{Spec{Preset: "github"}, "https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token", "", "read:user user:email", false},
		{Spec{Preset: "google"}, "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token", "", "openid email profile", true},
		{Spec{Preset: "entra", Tenant: "contoso.onmicrosoft.com"}, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "", "openid profile email offline_access", false},
		{Spec{Preset: "okta", Host: "https://acme.okta.com/"}, "https://acme.okta.com/oauth2/default/v1/authorize", "https://acme.okta.com/oauth2/default/v1/token", "", "openid profile email offline_access", false},
		{Spec{Preset: "keycloak", Host: "https://kc.example.com", Realm: "data"}, "https://kc.example.com/realms/data/protocol/openid-connect/auth", "https://kc.example.com/realms/data/protocol/openid-connect/token", "", "openid profile email offline_access", false},
		{Spec{Preset: "databricks", Host: "https://adb-123.4.azuredatabricks.net"}, "https://adb-123.4.azuredatabricks.net/oidc/v1/authorize", "https://adb-123.4.azuredatabricks.net/oidc/v1/token", "", "all-apis offline_access", false},
		{Spec{Preset: "snowflake", Host: "https://org-acct.snowflakecomputing.com"}, "https://org-acct.snowflakecomputing.com/oauth/authorize", "https://org-acct.snowflakecomputing.com/oauth/token-request", "", "refresh_token", false},
		{Spec{Preset: "oidc", Issuer: "https://idp.example/"}, "", "", "https://idp.example/", "openid email profile offline_access", false},
		{Spec{AuthURL: "https://a.example/auth", TokenURL: "https://a.example/token", Scopes: []string{"x"}}, "https://a.example/auth", "https://a.example/token", "", "x", false},
		{Spec{Preset: "databricks", Host: "https://adb-1.azuredatabricks.net", Scopes: []string{"sql", "offline_access"}}, "https://adb-1.azuredatabricks.net/oidc/v1/authorize", "https://adb-1.azuredatabricks.net/oidc/v1/token", "", "sql offline_access", false},
	} {
		tc.spec.Name, tc.spec.ClientID = "c", "id"
		e, err := Resolve(tc.spec)
		if err != nil {
			t.Errorf("%+v: %v", tc.spec, err)
			continue
		}
		if e.AuthURL != tc.auth || e.TokenURL != tc.token || e.Issuer != tc.issuer || strings.Join(e.Scopes, " ") != tc.scopes {
			t.Errorf("%s: got %+v", tc.spec.Preset, e)
		}
		if (e.AuthParams["access_type"] == "offline") != tc.offlineParam {
			t.Errorf("%s: auth params %v", tc.spec.Preset, e.AuthParams)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "x", ClientID: "id", Preset: "salesforce"}, `connections[x].preset: unknown preset "salesforce"`},
		{Spec{Name: "x", ClientID: "id", Preset: "entra"}, "connections[x].tenant: required for preset entra"},
		{Spec{Name: "x", ClientID: "id", Preset: "databricks"}, "connections[x].host: required for preset databricks"},
		{Spec{Name: "x", ClientID: "id", Preset: "snowflake", Host: "not a url"}, "connections[x].host: \"not a url\" must be a base URL"},
		{Spec{Name: "x", ClientID: "id", Preset: "keycloak", Host: "https://kc"}, "connections[x].realm: required"},
		{Spec{Name: "x", ClientID: "id", Preset: "oidc"}, "connections[x].issuer: required for preset oidc"},
		{Spec{Name: "x", Preset: "github"}, "connections[x].client-id: required"},
		{Spec{Name: "Bad Name", ClientID: "id", Preset: "github"}, "connections[Bad Name].name"},
		{Spec{Name: "signin", ClientID: "id", Preset: "github"}, "reserved"},
		{Spec{Name: "x", ClientID: "id"}, "set a preset, an issuer, or auth-url and token-url"},
	} {
		_, err := Resolve(tc.spec)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want it to contain %q", tc.spec, err, tc.want)
		}
	}
	if !slices.Contains(Presets, "databricks") {
		t.Fatal("presets list")
	}
}
