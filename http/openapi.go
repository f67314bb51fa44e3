package http

import _ "embed"

// openAPIDocument is the OpenAPI 3.0.3 description of the HTTP API, served
// unchanged at GET /api/v1/openapi.json. It is the API reference: every
// route, status and body the handlers produce must match it, which the tests
// check through checkOpenAPI.
//
//go:embed openapi.json
var openAPIDocument []byte
