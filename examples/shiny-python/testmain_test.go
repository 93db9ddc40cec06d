package shinypython_test

import (
	"testing"

	"github.com/tokenhook/tokenhook/examples/internal/exampletest"
)

// browser is the one Chromium shared by the tests of this package.
var browser = exampletest.Browser()

func TestMain(m *testing.M) { browser.Main(m) }
