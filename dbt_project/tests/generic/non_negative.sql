{#- Money at risk, lags and counts are magnitudes: a negative value means a sign bug upstream. -#}
{% test non_negative(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
