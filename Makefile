# machinepool-operator build. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export GOWORK := off
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint
HELM := $(BIN)/helm
CLUSTERCTL := $(BIN)/clusterctl
# Cluster API v1.14's clusterctl, the v1beta2 contract's (test/clusterctl checks the provider files with both).
CLUSTERCTL_V1BETA2 := $(BIN)/clusterctl-v1.14
CAPI_MANAGER := $(BIN)/capi-manager
CHART := charts/machinepool-operator
# Where release-manifests writes the clusterctl provider files, and the contract of the release series to write
# (v1beta2: series 0.2, cluster-template.yaml; v1beta1: series 0.1, v1beta1/cluster-template.yaml).
RELEASE_DIR ?= out
RELEASE_CONTRACT ?= v1beta2
# Go test flags; envtest packages run one at a time (-p 1): each starts its own control plane.
GO_TEST_FLAGS ?= -p 1 -count=1 -timeout 20m

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..." paths="./internal/capi/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and webhook configurations under config/, and the chart's copies of them.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role webhook paths="./..." \
		output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	go run ./hack/chartgen -config config -chart $(CHART)

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: lint
lint: $(GOLANGCI_LINT) $(HELM) capi-crds ## Run golangci-lint and helm lint.
	$(GOLANGCI_LINT) run ./...
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set crds.machinePool=false --set webhook.certManager.enabled=true

.PHONY: verify
verify: generate manifests capi-crds ## Check that generated files, go.mod and gofmt leave no diff.
	go mod tidy
	for d in hack/tools/*/; do (cd $$d && go mod tidy); done
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { echo "gofmt -s would change:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@if [ -n "$$(git status --porcelain -- api config charts go.mod go.sum hack/tools)" ]; then \
		echo "generated files or go.mod are out of date; run 'make generate manifests' and 'go mod tidy', then commit:"; \
		git status --porcelain -- api config charts go.mod go.sum hack/tools; git --no-pager diff --stat -- api config charts go.mod go.sum hack/tools; exit 1; fi

##@ Build

.PHONY: build
build: ## Build the manager binary into bin/manager.
	go build -trimpath -o $(BIN)/manager ./cmd/manager

.PHONY: quickstart
quickstart: capi-crds ## Run the whole MachinePool loop locally: control planes, manager, sample pool, scale 3 -> 5 -> 2 (KEEP=1 keeps it).
	hack/quickstart.sh

.PHONY: run
run: ## Run the manager against the cluster of $KUBECONFIG without the webhook server (v1beta1 MachinePools then need Cluster API core's CRD; see README "API versions").
	go run ./cmd/manager --webhook-port=0

.PHONY: release-manifests
release-manifests: ## Write the clusterctl provider files of infrastructure-sim (components, metadata, cluster template) into $(RELEASE_DIR)/.
	@mkdir -p $(RELEASE_DIR)
	"$$(hack/envtest-bins.sh)/kubectl" kustomize config/clusterctl > $(RELEASE_DIR)/infrastructure-components.yaml
	cp config/clusterctl/metadata.yaml $(RELEASE_DIR)/
	case "$(RELEASE_CONTRACT)" in \
		v1beta2) cp config/clusterctl/cluster-template.yaml $(RELEASE_DIR)/ ;; \
		v1beta1) cp config/clusterctl/v1beta1/cluster-template.yaml $(RELEASE_DIR)/ ;; \
		*) echo "RELEASE_CONTRACT must be v1beta2 or v1beta1, not $(RELEASE_CONTRACT)"; exit 1 ;; \
	esac

##@ Test

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl from source into the envtest cache (once per version).
	@hack/envtest-bins.sh >/dev/null

.PHONY: capi-crds
capi-crds: ## Copy Cluster API's Cluster/Machine/MachineSet/MachineDeployment CRDs into config/crd/external/.
	@hack/capi-crds.sh

.PHONY: provider-crds
provider-crds: capi-crds ## Copy real providers' MachinePool CRDs and templates (CAPA v2.13.0, CAPG v1.13.1) into config/crd/external/providers/.
	@hack/provider-crds.sh

.PHONY: test
test: capi-crds provider-crds ## Run all tests (unit and envtest) against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: capi-crds ## Run the end-to-end suite: the manager binary driven through kubectl, with real faults.
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" go test -tags e2e ./test/e2e -count=1 -timeout 30m -v

.PHONY: test-autoscaler
test-autoscaler: capi-crds ## Run the real cluster-autoscaler (built once from ../shared/third_party) against a simulated pool: up, down, from zero.
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" go test -tags autoscaler ./test/autoscaler -count=1 -timeout 30m -v

# BENCH_TEST_TIMEOUT bounds the whole `make bench` run: raise it for 1000x10/10 or BENCH_RUNS=3.
BENCH_TEST_TIMEOUT ?= 60m

.PHONY: bench
bench: capi-crds ## Benchmark the core controller as a process: start, create, scale up, scale down, one pool, idle for 50x10, 200x10, 5x200 pools (BENCH_WORKLOADS as POOLSxREPLICAS[/CLUSTERS], BENCH_RUNS for medians, BENCH_IDLE, BENCH_MANAGER_ENV, BENCH_OUT; see docs/benchmarks.md); then the in-process conversion per reconcile.
	@mkdir -p out
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" BENCH_OUT="$${BENCH_OUT:-$(CURDIR)/out/bench.jsonl}" \
		go test -tags bench ./test/bench -run '^TestScenarios$$' -count=1 -timeout $(BENCH_TEST_TIMEOUT) -v
	go test ./internal/conversion -run '^$$' -bench ControllerRoundTrip -benchtime 20000x

.PHONY: bench-nodes
bench-nodes: capi-crds ## Benchmark Node mapping: full resync and one Node change with 200 pools x 10 Nodes (BENCH_POOLS, BENCH_REPLICAS).
	KUBEBUILDER_ASSETS="$$(hack/envtest-bins.sh)" go test ./test/bench -run '^$$' -bench BenchmarkNodeMapping -benchtime 1x -timeout 30m -v

##@ Tools

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(HELM) $(CLUSTERCTL) $(CLUSTERCTL_V1BETA2) $(CAPI_MANAGER) ## Build the pinned tools into bin/ (controller-gen, golangci-lint, helm, clusterctl v1.7 and v1.14, Cluster API's manager).

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod hack/tools/controller-gen/go.sum
	cd hack/tools/controller-gen && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(HELM): hack/tools/helm/go.mod hack/tools/helm/go.sum
	cd hack/tools/helm && go build -o $@ -ldflags "-X helm.sh/helm/v3/internal/version.version=$$(go list -m -f '{{.Version}}' helm.sh/helm/v3)" helm.sh/helm/v3/cmd/helm

$(CLUSTERCTL): hack/tools/clusterctl/go.mod hack/tools/clusterctl/go.sum
	cd hack/tools/clusterctl && v=$$(go list -m -f '{{.Version}}' sigs.k8s.io/cluster-api) && \
		go build -o $@ -ldflags "-X sigs.k8s.io/cluster-api/version.gitVersion=$$v" sigs.k8s.io/cluster-api/cmd/clusterctl

$(CLUSTERCTL_V1BETA2): hack/tools/clusterctl-v1.14/go.mod hack/tools/clusterctl-v1.14/go.sum
	cd hack/tools/clusterctl-v1.14 && v=$$(go list -m -f '{{.Version}}' sigs.k8s.io/cluster-api) && \
		go build -o $@ -ldflags "-X sigs.k8s.io/cluster-api/version.gitVersion=$$v" sigs.k8s.io/cluster-api/cmd/clusterctl

# Cluster API's own core manager, same pinned module as clusterctl (test/capicore runs it).
$(CAPI_MANAGER): hack/tools/clusterctl/go.mod hack/tools/clusterctl/go.sum
	cd hack/tools/clusterctl && go build -o $@ sigs.k8s.io/cluster-api

$(GOLANGCI_LINT): hack/tools/golangci-lint/go.mod hack/tools/golangci-lint/go.sum
	cd hack/tools/golangci-lint && go build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint
