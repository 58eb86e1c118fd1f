-- Requests far above their model's usual size (the consoles' "abnormally high tokens in a single
-- request" alert): a consume row whose prompt + completion tokens exceed the mean +
-- request_tokens_sigma x sample stddev of the same gateway and model's requests over the
-- request_tokens_history_days days before its day (once at least request_tokens_min_history such
-- requests exist), or the model's absolute cap in request_tokens_max. Only flagged rows are kept.
-- The history is built from per-day sums (n, sum, sum of squares), so a large day costs one group by.
with

requests as (
    select
        gateway,
        record_key,
        request_id,
        token_name,
        model,
        created_at,
        created_date,
        coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) as total_tokens
    from {{ ref('stg_raw__usage_records') }}
    where record_type = 'consume' and model is not null
        and coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) > 0
),

daily as (
    select
        gateway,
        model,
        created_date,
        count(*) as n,
        sum(cast(total_tokens as double)) as s,
        sum(cast(total_tokens as double) * total_tokens) as ss
    from requests
    group by gateway, model, created_date
),

history as (
    select
        gateway,
        model,
        created_date,
        coalesce(sum(n) over w, 0) as h_n,
        sum(s) over w as h_s,
        sum(ss) over w as h_ss
    from daily
    window w as (
        partition by gateway, model order by {{ day_number('created_date') }}
        range between {{ var('request_tokens_history_days') }} preceding and 1 preceding
    )
),

stats as (
    select
        gateway,
        model,
        created_date,
        h_n,
        case when h_n > 0 then h_s / h_n end as h_mean,
        case when h_n > 1 then sqrt(greatest((h_ss - h_s * h_s / h_n) / (h_n - 1), 0)) end as h_sd
    from history
),

judged as (
    select
        r.*,
        s.h_n,
        s.h_mean,
        s.h_sd,
        case when s.h_n >= {{ var('request_tokens_min_history') }}
            then s.h_mean + {{ var('request_tokens_sigma') }} * coalesce(s.h_sd, 0) end as threshold_tokens,
        {%- set caps = var('request_tokens_max') or {} %}
        {%- if caps %}
        case r.model
            {%- for m, cap in caps.items() %}
            when '{{ m | replace("'", "''") }}' then {{ cap | int }}
            {%- endfor %}
        end
        {%- else %}
        cast(null as bigint)
        {%- endif %} as cap_tokens
    from requests as r
    inner join stats as s
        on r.gateway = s.gateway and r.model = s.model and r.created_date = s.created_date
),

final as (
    select
        cast(created_date as date) as request_date,
        cast(gateway as {{ t_string() }}) as gateway,
        cast(model as {{ t_string() }}) as model,
        cast(record_key as {{ t_string() }}) as record_key,
        cast(request_id as {{ t_string() }}) as request_id,
        cast(token_name as {{ t_string() }}) as token_name,
        cast(created_at as {{ t_timestamp() }}) as created_at,
        cast(total_tokens as bigint) as total_tokens,
        cast(h_n as bigint) as history_requests,
        cast(h_mean as double) as history_mean_tokens,
        cast(h_sd as double) as history_stddev_tokens,
        cast(threshold_tokens as double) as threshold_tokens,
        cast(cap_tokens as bigint) as cap_tokens,
        cast(coalesce(total_tokens > threshold_tokens, false) as boolean) as is_above_usual,
        cast(coalesce(total_tokens > cap_tokens, false) as boolean) as is_above_cap
    from judged
    where total_tokens > threshold_tokens or total_tokens > cap_tokens
)

select * from final
