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

{{/* OpenTelemetry's standard variables: service name, sampling, and OTLP when an endpoint is set. */}}
{{- define "ccp.otelEnv" -}}
- {name: OTEL_SERVICE_NAME, value: {{ .service | quote }}}
- {name: OTEL_TRACES_SAMPLER, value: parentbased_traceidratio}
- {name: OTEL_TRACES_SAMPLER_ARG, value: {{ .root.Values.observability.tracesSampleRatio | quote }}}
{{- with .root.Values.observability.otlpEndpoint }}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ . | quote }}}
{{- end }}
{{- end }}
