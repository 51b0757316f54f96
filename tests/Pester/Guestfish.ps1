# guestfish (package libguestfs-tools) as the reference implementation for differential
# tests: one "guestfish --listen" server per test file, driven with "guestfish --remote",
# and converters that bring its printed results and GuestFs's objects to one comparable form.
# Test-only: the module never uses guestfish.

function Test-GuestfishAvailable { [bool](Get-Command guestfish -ErrorAction SilentlyContinue) }

# Starts "guestfish --listen" on the images (read-only unless -Writable), launches it and
# returns a handle. The server's stderr — where it prints "libguestfs: error: …" for a
# failed remote command — goes to a file that Invoke-Guestfish reads after each command.
# -Arguments: more guestfish options after the -a images (for example -c URI -d DOMAIN).
function Start-Guestfish([string[]] $Images, [switch] $Writable, [string] $Format = 'qcow2', [string] $Directory, [string[]] $Arguments = @()) {
    $env:LIBGUESTFS_BACKEND = 'direct'
    if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }
    $err = Join-Path $Directory "guestfish-$([guid]::NewGuid().ToString('N')).err"
    $fishArgs = @('--listen')
    if ($Images) { $fishArgs += "--format=$Format" }
    if (-not $Writable) { $fishArgs += '--ro' }
    foreach ($i in $Images) { $fishArgs += @('-a', $i) }
    $fishArgs += $Arguments
    $env:GF_ERR = $err
    try { $line = & bash -c 'exec guestfish "$@" 2>"$GF_ERR"' guestfish @fishArgs | Out-String }
    finally { $env:GF_ERR = $null }
    if ($line -notmatch 'GUESTFISH_PID=(\d+)') { throw "guestfish --listen did not start: $line $(Get-Content $err -Raw -ErrorAction SilentlyContinue)" }
    $h = [pscustomobject]@{ Pid = [int]$Matches[1]; ErrorFile = $err; ErrorOffset = 0L; Commands = [Collections.Generic.List[string]]::new(); KernelNames = @{} }
    $r = Invoke-Guestfish $h 'run'
    if (-not $r.Ok) { Stop-Guestfish $h; throw "guestfish run failed: $($r.Error)" }
    $h.KernelNames = Get-GuestfishKernelNames $h
    $h
}

# guestfish's daemon names drive N /dev/sd<N> only where it translates names (list_devices and
# the calls that take a device); the kernel inside its appliance names hot-probed SCSI disks in
# the order their probes finish, and some results (pvs_full's pv_name, xfs_info's mount point,
# mountable_device) carry the kernel's name unchanged. Returns kernel name -> guestfish's own
# name for every disk the kernel named differently (empty when the two agree), read from
# /dev/disk/by-path in guestfish's appliance, which Invoke-Guestfish applies to every answer.
function Get-GuestfishKernelNames($Handle) {
    $map = @{}
    $r = Invoke-Guestfish $Handle 'debug' @('sh', 'ls -l /dev/disk/by-path')
    if (-not $r.Ok) { throw "guestfish debug sh (to read its appliance's disk names) failed: $($r.Error)" }
    foreach ($m in [regex]::Matches($r.Output, 'scsi-0:0:(\d+):0 -> \.\./\.\./(sd[a-z]+)\s*$', 'Multiline')) {
        $n = [int]$m.Groups[1].Value
        $name = ''
        do { $name = [char](97 + $n % 26) + $name; $n = [math]::Floor($n / 26) - 1 } while ($n -ge 0)
        if ($m.Groups[2].Value -ne "sd$name") { $map[$m.Groups[2].Value] = "sd$name" }
    }
    $map
}

# The calls whose device names guestfish's daemon translates itself (1.48.6: every call whose
# return is typed RDevice or RMountable in procedures.json): their answers already carry
# guestfish's own names and must not be mapped again.
$script:GuestfishTranslatedCommands = @(
    'btrfs-filesystem-show', 'findfs-label', 'findfs-uuid', 'inspect-get-drive-mappings', 'inspect-get-filesystems',
    'inspect-get-mountpoints', 'inspect-get-roots', 'inspect-os', 'ldmtool-diskgroup-disks', 'ldmtool-volume-partitions',
    'list-devices', 'list-disk-labels', 'list-dm-devices', 'list-filesystems', 'list-ldm-partitions', 'list-ldm-volumes',
    'list-md-devices', 'list-partitions', 'lvm-canonical-lv-name', 'lvs', 'mountpoints', 'mounts', 'part-to-dev', 'pvs', 'sfdisk-l')

# Runs one command on the server without stopping it on error (guestfish's "-" prefix).
# Returns Ok, Output (stdout exactly as printed) and Error (the text after "libguestfs: error: ").
function Invoke-Guestfish($Handle, [string] $Command, [string[]] $Arguments = @()) {
    $psi = [Diagnostics.ProcessStartInfo]::new('guestfish')
    foreach ($a in @("--remote=$($Handle.Pid)", '--', "-$Command") + $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
    $psi.StandardOutputEncoding = [Text.Encoding]::UTF8
    $p = [Diagnostics.Process]::Start($psi)
    $errTask = $p.StandardError.ReadToEndAsync()
    $out = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    $clientErr = $errTask.Result
    $Handle.Commands.Add($Command)
    $serverErr = ''
    if (Test-Path $Handle.ErrorFile) {
        $fs = [IO.File]::Open($Handle.ErrorFile, 'Open', 'Read', 'ReadWrite')
        try {
            $fs.Position = $Handle.ErrorOffset
            $serverErr = [IO.StreamReader]::new($fs).ReadToEnd()
            $Handle.ErrorOffset = $fs.Length
        }
        finally { $fs.Dispose() }
    }
    $errors = @(($serverErr + "`n" + $clientErr) -split "`n" | Where-Object { $_ -match '^libguestfs: error: ' } | ForEach-Object { $_.Substring(19).Trim() })
    if ($p.ExitCode -ne 0 -and $errors.Count -eq 0) { $errors = @("guestfish exited with $($p.ExitCode): $clientErr") }
    if ($Handle.KernelNames -and $Handle.KernelNames.Count -and $Command -notin $script:GuestfishTranslatedCommands) {
        $names = $Handle.KernelNames
        $out = [regex]::Replace($out, '(?<=/dev/)(sd[a-z]+)', { param($m) if ($names.ContainsKey($m.Value)) { $names[$m.Value] } else { $m.Value } })
    }
    [pscustomobject]@{ Ok = ($errors.Count -eq 0); Output = $out; Error = ($errors -join "`n") }
}

function Stop-Guestfish($Handle) {
    if (-not $Handle) { return }
    & guestfish "--remote=$($Handle.Pid)" -- exit 2>$null | Out-Null
    Remove-Item $Handle.ErrorFile -ErrorAction SilentlyContinue
}

# snake_case struct field (as guestfish prints it) -> the PascalCase property of GuestFs's struct records.
function ConvertTo-PascalField([string] $Name) {
    -join ($Name -split '_' | Where-Object { $_ } | ForEach-Object { $_.Substring(0, 1).ToUpperInvariant() + $_.Substring(1) })
}

# guestfish's printing of one struct ("field: value" lines, maybe indented) -> ordered field=value.
function ConvertFrom-GuestfishStruct([string] $Text) {
    $o = [ordered]@{}
    foreach ($line in $Text -split "`n") {
        if ($line -match '^\s*([a-z0-9_]+): ?(.*)$') { $o[$Matches[1]] = $Matches[2] }
    }
    $o
}

# guestfish's printing of a struct list ("[0] = {" … "}") -> one ordered dictionary per struct.
function ConvertFrom-GuestfishStructList([string] $Text) {
    $items = @(); $cur = $null
    foreach ($line in $Text -split "`n") {
        if ($line -match '^\[\d+\] = \{') { $cur = [Text.StringBuilder]::new(); continue }
        if ($line -match '^\}' -and $null -ne $cur) { $items += , (ConvertFrom-GuestfishStruct $cur.ToString()); $cur = $null; continue }
        if ($null -ne $cur) { [void]$cur.AppendLine($line) }
    }
    , $items
}

# One value as guestfish prints it (numbers as integers, floats compared loosely elsewhere).
function Format-FieldValue($v) {
    if ($null -eq $v) { return '' }
    if ($v -is [bool]) { return $v.ToString().ToLowerInvariant() }
    if ($v -is [char]) { return [string]$v }
    if ($v -is [byte[]]) { return [Text.Encoding]::UTF8.GetString($v) }
    if ($v -is [double] -or $v -is [single]) { return $v.ToString('R', [Globalization.CultureInfo]::InvariantCulture) }
    [string]$v
}

# Compares guestfish's fields with a GuestFs struct object; returns the differences ("" when equal).
# -Ignore takes guestfish field names. Float fields (FOptPercent) compare to 0.01; guestfish prints -1 for "none".
function Compare-StructFields($Fish, $Ours, [string[]] $Ignore = @()) {
    $diffs = @()
    foreach ($k in $Fish.Keys) {
        if ($Ignore -contains $k) { continue }
        $prop = $Ours.PSObject.Properties[(ConvertTo-PascalField $k)]
        if (-not $prop) { $diffs += "$k missing in GuestFs's object"; continue }
        $mine = Format-FieldValue $prop.Value
        $theirs = $Fish[$k]
        if ($prop.Value -is [double] -or $prop.Value -is [single]) {
            $a = [double]$prop.Value; $b = [double]::Parse($theirs, [Globalization.CultureInfo]::InvariantCulture)
            if ([double]::IsNaN($a)) { $a = -1 }
            if ([math]::Abs($a - $b) -gt 0.01) { $diffs += "${k}: guestfish $theirs, GuestFs $mine" }
            continue
        }
        if ($mine -cne $theirs) { $diffs += "${k}: guestfish '$theirs', GuestFs '$mine'" }
    }
    $diffs -join '; '
}

# strerror text at the end of a libguestfs message -> errno name (the errors the tests provoke).
function Get-ErrnoFromMessage([string] $Message) {
    $map = [ordered]@{
        'No such file or directory' = 'ENOENT'; 'File exists' = 'EEXIST'; 'Directory not empty' = 'ENOTEMPTY'
        'Not a directory' = 'ENOTDIR'; 'Is a directory' = 'EISDIR'; 'Invalid argument' = 'EINVAL'
        'Permission denied' = 'EACCES'; 'Operation not permitted' = 'EPERM'; 'Read-only file system' = 'EROFS'
        'No space left on device' = 'ENOSPC'; 'Device or resource busy' = 'EBUSY'; 'No data available' = 'ENODATA'
    }
    foreach ($k in $map.Keys) { if ($Message.EndsWith($k)) { return $map[$k] } }
    ''
}
