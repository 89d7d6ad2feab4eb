{#- persist_docs on DuckDB (`+persist_docs` in dbt_project.yml: plain SQL users read the yml descriptions as the
    relations' and columns' comments) writing only the comments that differ from the docs. dbt's own
    (default__persist_docs with dbt-duckdb's comment macros) runs four statements after every model, each
    ~5 ms of dbt around ~1 ms of DuckDB: the relation's comment, two DESCRIBEs and every column's comment,
    although an incremental model's table keeps its comments from one day to the next. Here one query reads
    the relation's comment and its columns' (duckdb_tables / duckdb_views / duckdb_columns), and one
    statement writes what differs, if anything: a view made again, a table rebuilt, a description edited.
    The end state is dbt's: the relation's comment is the model's description where it has one, each
    documented column the relation has (its name as dbt-duckdb matches it) carries its description, and a
    documented column the relation lacks is warned about (validate_doc_columns). The comment statements are
    dbt-duckdb's own (its alter_relation_comment, and its column statement written here), not dispatched again;
    duckdb_tables() and its siblings list every attached catalog before the filter (no other is attached
    here). Other engines: dbt's own. -#}
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
  {%- set relation_docs = for_relation and config.persist_relation_docs() and model.description -%}
  {%- set column_docs = for_columns and config.persist_column_docs() and model.columns -%}
  {%- if execute and (relation_docs or column_docs) -%}
    {#- names compared as DuckDB resolves them: without regard to case -#}
    {%- set at -%}
      lower(database_name) = lower('{{ adapter.escape_sql_string(relation.database) }}')
      and lower(schema_name) = lower('{{ adapter.escape_sql_string(relation.schema) }}')
    {%- endset -%}
    {%- set ident = "lower('" ~ adapter.escape_sql_string(relation.identifier) ~ "')" -%}
    {%- set found = run_query(
          "select null::varchar as column_name, comment from duckdb_tables() where " ~ at
          ~ " and lower(table_name) = " ~ ident
          ~ " union all select null, comment from duckdb_views() where " ~ at ~ " and lower(view_name) = " ~ ident
          ~ " union all select column_name, comment from duckdb_columns() where " ~ at
          ~ " and lower(table_name) = " ~ ident) -%}
    {%- set ns = namespace(relation_comment=none) -%}
    {%- set column_comments = {} -%}
    {%- for row in found.rows -%}
      {%- if row[0] is none -%}
        {%- set ns.relation_comment = row[1] -%}
      {%- else -%}
        {%- do column_comments.update({row[0]: row[1]}) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- if relation_docs and ns.relation_comment != model.description -%}
      {%- do statements.append(duckdb__alter_relation_comment(relation, model.description)) -%}
    {%- endif -%}
    {%- if column_docs -%}
      {%- set documented = validate_doc_columns(relation, model.columns, column_comments.keys() | list) -%}
      {%- for name, column in documented.items()
            if name in column_comments and column_comments[name] != column['description'] -%}
        {%- do statements.append("comment on column " ~ relation ~ "."
              ~ (adapter.quote(name) if column['quote'] else name) ~ " is "
              ~ duckdb_escape_comment(column['description']) ~ ";") -%}
      {%- endfor -%}
    {%- endif -%}
    {%- if statements -%}
      {%- do run_query(statements | join('\n')) -%}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
