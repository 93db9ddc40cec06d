package main

import (
	"testing"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// browser is the one Chromium shared by the tests of this package.
var browser browsertest.Shared

func TestMain(m *testing.M) { browser.Main(m) }
