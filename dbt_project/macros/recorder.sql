{#- 'HH:MM:SS' of a number of milliseconds since 00:00 UTC (24:00:00 at the day's end), in portable SQL. -#}
{% macro clock_text(ms_of_day) -%}
  {%- set hour, minute = hour_ms() | string, minute_ms() | string -%}
  {%- set fields = ['floor((' ~ ms_of_day ~ ') / ' ~ hour ~ '.0)', 'floor(mod(' ~ ms_of_day ~ ', ' ~ hour ~ ') / ' ~ minute ~ '.0)',
                    'floor(mod(' ~ ms_of_day ~ ', ' ~ minute ~ ') / 1000.0)'] -%}
  {%- for field in fields -%}
    {%- set n = 'cast(' ~ field ~ ' as bigint)' -%}
    case when {{ n }} < 10 then '0' else '' end || cast({{ n }} as {{ sql_type('varchar') }}){{ " || ':' || " if not loop.last }}
  {%- endfor -%}
{%- endmacro %}

{#- The UTC days (start ms) that an interval [start_ms, end_ms) of `relation` touches, with its keys: the
    recorder splits segments at midnight, so at most two (its start's day and its last instant's day). -#}
{% macro interval_days(relation) -%}
    select symbol, dataset, {{ floor_epoch_ms('start_ms', day_ms()) }} as day_start_ms from {{ relation }}
    union all
    select symbol, dataset, {{ floor_epoch_ms('greatest(end_ms - 1, start_ms)', day_ms()) }} as day_start_ms from {{ relation }}
{%- endmacro %}

{#- Intervals of `relation` clipped to each UTC day of `days` they overlap (a zero-length one counts in its day). -#}
{% macro clip_to_days(relation, days, extra_columns=[]) -%}
    select
        days.symbol,
        days.dataset,
        days.day_start_ms,
        {% for c in extra_columns %}i.{{ c }},{% endfor %}
        greatest(i.start_ms, days.day_start_ms) as start_ms,
        least(i.end_ms, days.day_start_ms + {{ day_ms() }}) as end_ms
    from {{ days }} as days
    inner join {{ relation }} as i
        on i.symbol = days.symbol
       and i.dataset = days.dataset
       and i.start_ms < days.day_start_ms + {{ day_ms() }}
       and greatest(i.end_ms, i.start_ms + 1) > days.day_start_ms
{%- endmacro %}
