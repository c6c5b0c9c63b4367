{{/* The chart's name, or nameOverride. */}}
{{- define "tritonops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects: the release name when it already contains the chart's name. */}}
{{- define "tritonops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tritonops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "tritonops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tritonops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The recommended labels on every object of the release. */}}
{{- define "tritonops.labels" -}}
helm.sh/chart: {{ include "tritonops.chart" . }}
{{ include "tritonops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tritonops
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tritonops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tritonops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tritonops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The rules the operator needs in every namespace it manages. Each verb is one the operator really uses:
  list/watch: the kopf watches (modeldeployments and the children labelled managed-by=tritonops);
  create+patch: server-side apply of children (an apply that creates an object is also authorized as create);
  patch on modeldeployments: removing the one-shot promote/abort/retry annotations;
  patch on modeldeployments/status, deployments/scale: status merge patches, replica scaling;
  delete: children of removed revisions; create on events: Kubernetes events about a ModelDeployment,
  patch on events: a repeat of one raises its count instead of making a new object (client-go's aggregation).
No get, update, deletecollection or Secrets: the operator never reads a Secret (credentials are passed by reference).
*/}}
{{- define "tritonops.namespacedRules" -}}
- apiGroups: [inference.tritonops.dev]
  resources: [modeldeployments]
  verbs: [list, watch, patch]
- apiGroups: [inference.tritonops.dev]
  resources: [modeldeployments/status]
  verbs: [patch]
# Children's owner references set blockOwnerDeletion; where OwnerReferencesPermissionEnforcement runs
# (OpenShift, hardened clusters) that needs update on the owner's finalizers.
- apiGroups: [inference.tritonops.dev]
  resources: [modeldeployments/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# traffic.router gatewayAPI: an HTTPRoute and a GRPCRoute per ModelDeployment, watched (where their CRDs
# exist) so that a deleted one is applied again at once.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, grpcroutes]
  verbs: [list, watch, create, patch, delete]
# monitoring.serviceMonitor: a prometheus-operator ServiceMonitor per ModelDeployment, watched the same way.
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [list, watch, create, patch, delete]
{{- end }}

{{/*
Cluster-scoped reads: every node and every pod (list only) for the GPU capacity check of a new canary,
and the CustomResourceDefinitions that kopf watches to notice resources appearing after it started.
*/}}
{{- define "tritonops.clusterRules" -}}
- apiGroups: [""]
  resources: [nodes]
  verbs: [list]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}
