-- A catalogue uploaded through the API above the background size is stored here and imported by a Hangfire job,
-- on whichever node takes it: the file lives in the database, in 1 MB chunks, not on the receiving node's disk.
create table catalogue_uploads (
    id          bigserial primary key,
    batch_name  text not null,
    file_name   text not null,
    settings    jsonb not null,
    size_bytes  bigint not null,
    job_id      text,
    created_at  timestamptz not null default now(),
    imported_at timestamptz,
    report      jsonb
);

create table catalogue_upload_chunks (
    upload_id bigint not null references catalogue_uploads (id) on delete cascade,
    seq       int not null,
    data      bytea not null,
    primary key (upload_id, seq)
);
