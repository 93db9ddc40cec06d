// Package config loads tokenhook's settings: one table of settings behind
// the flags, the TOKENHOOK_* environment variables, the YAML file's keys,
// --help and the README's table; Load reads them into Options (the server's
// Config plus what only the command uses), and Validate reports every
// problem at once.
package config
