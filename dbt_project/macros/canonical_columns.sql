{#- The canonical landed columns and DuckDB types, mirroring schemas/canonical.py (the contract). -#}
{% macro canonical_columns(table) -%}
  {%- set ts = 'timestamp with time zone' -%}
  {%- set columns = {
    'usage_records': {
      'gateway': 'varchar', 'record_key': 'varchar', 'record_type': 'varchar', 'created_at': ts,
      'request_id': 'varchar', 'task_id': 'varchar', 'billing_transaction_id': 'varchar',
      'model': 'varchar', 'scene': 'varchar', 'token_name': 'varchar', 'group_name': 'varchar',
      'prompt_tokens': 'bigint', 'completion_tokens': 'bigint', 'cache_tokens': 'bigint',
      'quota': 'bigint', 'cost_usd': 'double', 'duration_ms': 'bigint', 'is_stream': 'boolean',
      'status_code': 'bigint', 'error_code': 'varchar', 'model_ratio': 'double',
      'completion_ratio': 'double', 'group_ratio': 'double', 'cache_ratio': 'double',
      'model_price': 'double', 'pre_consumed_quota': 'bigint', 'actual_quota': 'bigint',
      'is_task': 'boolean', 'stream_status': 'varchar', 'quota_per_unit': 'double',
      'total_tokens': 'bigint', 'settled_at': ts, 'is_reserved': 'boolean', 'access_channel': 'varchar'
    },
    'gateway_totals': {
      'gateway': 'varchar', 'day': 'date', 'quota': 'bigint', 'rpm': 'bigint', 'tpm': 'bigint',
      'quota_per_unit': 'double', 'endpoint': 'varchar', 'filter': 'varchar', 'window_start': ts,
      'window_end': ts, 'extracted_at': ts
    },
    'gateway_tasks': {
      'gateway': 'varchar', 'task_id': 'varchar', 'status': 'varchar', 'submitted_at': ts,
      'finished_at': ts, 'fail_reason': 'varchar', 'quota': 'bigint', 'cost_usd': 'double',
      'is_cancelled': 'boolean', 'platform': 'varchar', 'action': 'varchar',
      'poll_url': 'varchar', 'x_task_id': 'varchar', 'x_billing_transaction_id': 'varchar'
    },
    'app_jobs': {
      'job_id': 'varchar', 'user_id': 'varchar', 'created_at': ts, 'scene': 'varchar',
      'model': 'varchar', 'request_id': 'varchar', 'task_id': 'varchar', 'status': 'varchar',
      'terminal_at': ts, 'billing_transaction_id': 'varchar', 'expected_cost_usd': 'double',
      'retry_count': 'bigint', 'token_name': 'varchar', 'prompt_tokens': 'bigint',
      'completion_tokens': 'bigint'
    },
    'app_assets': {
      'asset_id': 'varchar', 'job_id': 'varchar', 'created_at': ts, 'kind': 'varchar',
      'byte_size': 'bigint', 'status': 'varchar'
    }
  } -%}
  {{ return(columns[table]) }}
{%- endmacro %}
