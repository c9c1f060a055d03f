{{- define "ccp.labels" -}}
app.kubernetes.io/name: ccp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ccp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{- define "ccp.etcdEndpoint" -}}
{{- if .Values.etcd.enabled -}}
{{ .Release.Name }}-etcd:2379
{{- else -}}
{{ .Values.etcd.endpoints }}
{{- end -}}
{{- end }}
