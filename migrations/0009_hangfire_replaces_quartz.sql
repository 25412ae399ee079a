-- Hangfire (schema "hangfire", created by Hangfire.PostgreSql itself) replaces Quartz as the scheduler.
-- Quartz's tables held only its triggers and run bookkeeping; the schedules are re-registered from configuration.
do $$
declare
    quartz_table text;
begin
    for quartz_table in
        select quote_ident(table_schema) || '.' || quote_ident(table_name)
        from information_schema.tables
        where table_schema = current_schema() and table_name like 'qrtz\_%'
    loop
        execute 'drop table if exists ' || quartz_table || ' cascade';
    end loop;
end
$$;

-- A schedule paused by an operator stays paused across restarts and configuration reloads until resumed.
create table schedule_pauses (
    name      text primary key,
    paused_at timestamptz not null default now(),
    paused_by text not null
);
