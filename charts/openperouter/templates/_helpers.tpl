{{/* Labels every object carries. */}}
{{- define "openperouter.labels" -}}
app.kubernetes.io/name: openperouter
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The image of every container. */}}
{{- define "openperouter.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end }}

{{/* The FRR container's image: router.frrImage, field by field over image. */}}
{{- define "openperouter.frrImage" -}}
{{- $repository := .Values.router.frrImage.repository | default .Values.image.repository -}}
{{- $tag := .Values.router.frrImage.tag | default .Values.image.tag | default .Chart.AppVersion -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end }}

{{/* Pod-level settings shared by every workload: pull secrets. */}}
{{- define "openperouter.pullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Extra pod annotations and labels. */}}
{{- define "openperouter.podAnnotations" -}}
{{- with .Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Placement of the per-node pair (controller and router). */}}
{{- define "openperouter.nodePlacement" -}}
{{- with .Values.nodes.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodes.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodes.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodes.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The webhook Service's DNS names. */}}
{{- define "openperouter.webhookDNSNames" -}}
- openperouter-webhook-service.{{ .Release.Namespace }}.svc
- openperouter-webhook-service.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}
