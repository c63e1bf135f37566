// Package chartstest proves instant's Kubernetes delivery offline: it renders the Helm
// charts in charts/ with the Helm SDK for every values file, lints them, decodes every
// object strictly into its Go type, validates custom resources against their CRDs'
// OpenAPI schemas (with CEL rules), runs kube-score, and checks the policies that keep
// the charts and the services' code from drifting apart (env contract, topics,
// intentions, security). There is no code here besides the tests; see docs/deploy.md.
package chartstest
