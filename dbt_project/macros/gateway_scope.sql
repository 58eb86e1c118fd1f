{#-
  Shared gateway accounts (issue 18, docs/gateways.md): a gateway configured with `token_names:` /
  `groups:` holds this app's rows and other apps' rows. `in_gateway_scope()` is true for a usage row
  inside its gateway's filter (a token name and a group listed, where listed; a gateway without a
  filter holds only this app's rows). A row that names no token (or no group) cannot be told to be
  another app's on that count: new-api's system rows (an old build's task refunds, topups) carry no
  token, and they stay in view. The var `gateway_scopes` is {gateway: {token_names, groups}};
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
        coalesce(nullif({{ token_name }}, '') in ({% for t in tokens %}'{{ t | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}), true)
        {%- else %}true{% endif %}
        and {% if groups -%}
        coalesce(nullif({{ group_name }}, '') in ({% for g in groups %}'{{ g | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}), true)
        {%- else %}true{% endif %}
    {%- endfor %}
      else true
    end
  {%- endif -%}
{%- endmacro %}
