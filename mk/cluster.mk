# The Kubernetes loop: a kind cluster, images, the charts, skaffold. Included by the
# Makefile, which defines GO, SERVICES, VERSION and TESTFLAGS. docs/deploy.md walks
# through it; `make help` lists the targets.
#
# Tools: docker, kubectl, and the pinned helm, kind and kube-score (`make tools`);
# skaffold for `make dev`.

# The services delivered to Kubernetes: those with a chart (charts/<name>).
DEPLOY_SERVICES ?= $(filter $(notdir $(wildcard charts/*)),$(SERVICES))
# Tools the umbrella chart can run beside them (tools/<name>/Dockerfile): the load
# generator, off unless `loadgen.enabled`; built anyway so that turning it on needs no build.
DEPLOY_TOOLS ?= loadgen

KIND_CLUSTER   ?= instant
NAMESPACE      ?= instant
RELEASE        ?= instant
IMAGE_REGISTRY ?= instant
IMAGE_TAG      ?= $(VERSION)
# Values files for `make deploy`, after the chart's values.yaml; several allowed.
VALUES         ?= charts/instant/values-kind.yaml
CONSUL_VALUES  ?= k8s/consul/values-kind.yaml
STRIMZI_CHART_VERSION ?= 1.2.0
CONSUL_CHART_VERSION  ?= 2.0.3
PF_GATEWAY_PORT ?= 18080
PF_INBOX_PORT   ?= 18025
# CRDs the chart tests validate custom resources against (CI: ../shared/crds).
INSTANT_CRDS_DIR ?= $(wildcard $(abspath ../shared/crds))

KUBECTL  ?= kubectl
HELM     ?= helm
KIND     ?= kind
DOCKER   ?= docker
SKAFFOLD ?= skaffold

.PHONY: tools kind-up kind-down cluster-deps images images-push kind-load charts-deps deploy dev port-forward helm-test charts-check

tools: ## install the pinned helm, kind and kube-score into $(go env GOPATH)/bin
	.ci/install-tools.sh

kind-up: ## create the kind cluster (kind-config.yaml: localhost:8080 gateway, :8025 inbox)
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
		echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
		$(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 2m; \
	fi

kind-down: ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)

cluster-deps: ## namespaces, Strimzi and Consul (RKE2: CONSUL_VALUES=k8s/consul/values-rke2.yaml)
	$(KUBECTL) apply -f k8s/namespaces.yaml
	$(HELM) upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
		--version $(STRIMZI_CHART_VERSION) -n strimzi -f k8s/strimzi/values.yaml --wait --timeout 10m
	$(HELM) repo add hashicorp https://helm.releases.hashicorp.com --force-update
	$(HELM) upgrade --install consul hashicorp/consul --version $(CONSUL_CHART_VERSION) -n consul \
		-f k8s/consul/values-common.yaml -f $(CONSUL_VALUES) --wait --timeout 15m
	$(KUBECTL) apply -f k8s/consul/mesh.yaml

images: ## build every delivered service's image and the load generator's as $(IMAGE_REGISTRY)/<name>:$(IMAGE_TAG)
	@set -e; for s in $(DEPLOY_SERVICES); do \
		echo "== $(IMAGE_REGISTRY)/$$s:$(IMAGE_TAG)"; \
		$(DOCKER) build -f services/$$s/Dockerfile --build-arg VERSION=$(VERSION) \
			-t $(IMAGE_REGISTRY)/$$s:$(IMAGE_TAG) . ; \
	done; \
	for s in $(DEPLOY_TOOLS); do \
		echo "== $(IMAGE_REGISTRY)/$$s:$(IMAGE_TAG)"; \
		$(DOCKER) build -f tools/$$s/Dockerfile --build-arg VERSION=$(VERSION) \
			-t $(IMAGE_REGISTRY)/$$s:$(IMAGE_TAG) . ; \
	done

images-push: ## push the images to $(IMAGE_REGISTRY) (RKE2)
	@set -e; for s in $(DEPLOY_SERVICES) $(DEPLOY_TOOLS); do $(DOCKER) push $(IMAGE_REGISTRY)/$$s:$(IMAGE_TAG); done

kind-load: ## copy the images onto the kind node (no registry needed)
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(foreach s,$(DEPLOY_SERVICES) $(DEPLOY_TOOLS),$(IMAGE_REGISTRY)/$(s):$(IMAGE_TAG))

charts-deps: ## helm dependency update for the charts (file:// dependencies, offline)
	@set -e; for c in $(DEPLOY_SERVICES) instant; do \
		$(HELM) dependency update --skip-refresh charts/$$c >/dev/null; \
	done

deploy: charts-deps ## install or upgrade the app (RKE2: VALUES=charts/instant/values-rke2.yaml)
	$(HELM) upgrade --install $(RELEASE) charts/instant -n $(NAMESPACE) \
		$(addprefix -f ,$(VALUES)) \
		--set global.image.registry=$(IMAGE_REGISTRY) --set global.image.tag=$(IMAGE_TAG) \
		--wait --timeout 15m

dev: ## skaffold dev loop on kind: rebuild and redeploy on every change
	VERSION=$(VERSION) $(SKAFFOLD) dev -p kind

port-forward: ## the gateway on localhost:$(PF_GATEWAY_PORT), the dev inbox on localhost:$(PF_INBOX_PORT)
	@echo "gateway  http://localhost:$(PF_GATEWAY_PORT)  (svc/gateway: straight to a pod, past the API gateway)"
	@echo "inbox    http://localhost:$(PF_INBOX_PORT)  (svc/instant-mailpit, when the dev stores are on)"
	@echo "Ctrl-C stops both."
	@$(KUBECTL) -n $(NAMESPACE) port-forward svc/gateway $(PF_GATEWAY_PORT):8080 & gw=$$!; \
	 $(KUBECTL) -n $(NAMESPACE) port-forward svc/instant-mailpit $(PF_INBOX_PORT):8025 & mp=$$!; \
	 trap 'kill $$gw $$mp 2>/dev/null' EXIT INT TERM; wait

helm-test: ## helm test: sign in through the public entry with a code from the dev inbox
	$(HELM) test $(RELEASE) -n $(NAMESPACE) --logs --timeout 5m

charts-check: ## render, lint, decode, CRD-validate, policy-check and kube-score the charts offline
	@mkdir -p .run/charts
	cd deploy/chartstest && CHARTSTEST_OUT=$(CURDIR)/.run/charts INSTANT_CRDS_DIR=$(INSTANT_CRDS_DIR) \
		$(GO) test $(TESTFLAGS) ./...
	@echo "rendered manifests: .run/charts/"
