// Package tableau holds the Tableau dashboard extension example; its test
// checks the manifest Tableau reads.
package tableau

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"image/png"
	"net/url"
	"os"
	"strings"
	"testing"
)

type manifest struct {
	XMLName   xml.Name `xml:"manifest"`
	Version   string   `xml:"manifest-version,attr"`
	Extension struct {
		ID         string `xml:"id,attr"`
		Version    string `xml:"extension-version,attr"`
		Locale     string `xml:"default-locale"`
		MinAPI     string `xml:"min-api-version"`
		SourceURL  string `xml:"source-location>url"`
		Icon       string `xml:"icon"`
		Permission string `xml:"permissions>permission"`
		Name       struct {
			Resource string `xml:"resource-id,attr"`
		} `xml:"name"`
	} `xml:"dashboard-extension"`
	Resources []struct {
		ID   string `xml:"id,attr"`
		Text string `xml:"text"`
	} `xml:"resources>resource"`
}

func TestManifest(t *testing.T) {
	b, err := os.ReadFile("tokenhook.trex")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	e := m.Extension
	if m.Version != "0.1" || e.ID == "" || e.Version == "" || e.Locale != "en_US" || e.MinAPI == "" {
		t.Fatalf("manifest fields: %+v", m)
	}
	u, err := url.Parse(e.SourceURL)
	if err != nil || u.Path != "/tableau/" || (u.Scheme != "https" && u.Hostname() != "localhost") {
		t.Fatalf("source-location %q must be https, or http://localhost for development", e.SourceURL)
	}
	found := false
	for _, r := range m.Resources {
		found = found || (r.ID == e.Name.Resource && r.Text != "")
	}
	if !found {
		t.Fatalf("name resource %q not defined", e.Name.Resource)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Icon))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 70 || img.Bounds().Dy() != 70 {
		t.Fatalf("icon must be a 70x70 PNG: %v", err)
	}
	page, err := os.ReadFile("index.html")
	if err != nil || !bytes.Contains(page, []byte(`src="/_tokenhook/tokenhook.js"`)) {
		t.Fatal("index.html must load tokenhook.js")
	}
}
