package pgstore

// TailFromSQL exposes the SQL threshold to the external tests.
const TailFromSQL = tailFrom
