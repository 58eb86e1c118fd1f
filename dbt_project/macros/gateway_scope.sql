{#-
  Shared gateway accounts (issue 18, docs/gateways.md): a gateway configured with `token_names:` /
  `groups:` holds this app's rows and other apps' rows. `in_gateway_scope()` is true for a usage row
  inside its gateway's filter (a token name and a group listed, where listed; a gateway without a
  filter holds only this app's rows). The var `gateway_scopes` is {gateway: {token_names, groups}};
  config.py rejects names with quotes, and they are escaped here all the same.
-#}
{% macro in_gateway_scope(gateway='gateway', token_name='token_name', group_name='group_name') -%}
  {%- set scopes = var('gateway_scopes', {}) or {} -%}
  {%- if not scopes -%}
    true
  {%- else -%}
    case
    {%- for gw, scope in scopes.items() %}
      when {{ gateway }} = '{{ gw | replace("'", "''") }}' then
        {%- set tokens = scope.get('token_names') or [] %}
        {%- set groups = scope.get('groups') or [] %}
        {% if tokens -%}
        coalesce({{ token_name }} in ({% for t in tokens %}'{{ t | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}), false)
        {%- else %}true{% endif %}
        and {% if groups -%}
        coalesce({{ group_name }} in ({% for g in groups %}'{{ g | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}), false)
        {%- else %}true{% endif %}
    {%- endfor %}
      else true
    end
  {%- endif -%}
{%- endmacro %}
