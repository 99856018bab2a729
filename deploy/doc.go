// Package deploy holds no code. Its tests check the deployment files next to them: the Kubernetes manifests
// (strictly decoded into the k8s.io/api types, every embedded collector config validated by otelcol-es) and
// the Prometheus rules (promtool check + unit tests). It is a module of its own so that k8s.io/api stays out
// of the collector library's go.mod.
package deploy
