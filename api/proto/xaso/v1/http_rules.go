package xasov1

import _ "embed"

// HTTPRules is http.yaml, the REST mapping of the services (a
// google.api.Service's http rules) the gateway was generated from: the
// servers read their REST routes from it to measure each from the start.
//
//go:embed http.yaml
var HTTPRules []byte
