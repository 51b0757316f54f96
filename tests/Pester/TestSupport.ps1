# Shared set-up for the GuestFs Pester suites: dot-source it in BeforeAll.
# It imports the built module and provides cached test images, so a run only
# pays appliance launches for the sessions the tests themselves open.

$script:ModulePath = if ($env:GUESTFS_TEST_MODULE) { $env:GUESTFS_TEST_MODULE } else { Join-Path $PSScriptRoot '../../out/GuestFs/GuestFs.psd1' }
if (-not (Get-Module GuestFs)) { Import-Module $script:ModulePath -Force -ErrorAction Stop }

# Bump when the content of the base image changes.
$script:BaseImageVersion = 'v4'

# The cached test images are built by the code under test, so a cache built by older
# code could hide a regression (a launch that swaps disks, a recipe that changed). The
# cache is therefore keyed to what builds the images: the image recipes (every support
# script in this folder), the engine's launch code (Launch, Session, Appliance)
# and the appliance's package lists (a filesystem added to the appliance, such as xfs,
# must reach the images). A change to any of them starts a new, empty cache.
function Get-GuestFsTestCacheKey {
    if ($script:GuestFsTestCacheKey) { return $script:GuestFsTestCacheKey }
    $repo = Join-Path $PSScriptRoot '../..'
    # Every support script beside the suites (image builders, the regf writer, this file …).
    # (ReferenceLane.ps1 only runs reference tools: it builds no image.)
    $files = @(Get-ChildItem $PSScriptRoot -Filter '*.ps1' -File | Where-Object { $_.Name -notlike '*.Tests.ps1' -and $_.Name -ne 'ReferenceLane.ps1' })
    foreach ($d in 'Launch', 'Session', 'Appliance') {
        $files += @(Get-ChildItem (Join-Path $repo "src/GuestFs.Engine/$d") -Filter '*.cs' -File -Recurse -ErrorAction SilentlyContinue)
    }
    $superminD = '/usr/lib/x86_64-linux-gnu/guestfs/supermin.d'
    if (Test-Path $superminD) { $files += @(Get-ChildItem $superminD -Filter 'packages*' -File) }
    $sha = [Security.Cryptography.SHA256]::Create()
    try {
        $sb = [Text.StringBuilder]::new()
        foreach ($f in $files | Sort-Object FullName) {
            $rel = if ($f.FullName.StartsWith($superminD)) { $f.FullName } else { [IO.Path]::GetRelativePath($repo, $f.FullName) }
            $h = [Convert]::ToHexString($sha.ComputeHash([IO.File]::ReadAllBytes($f.FullName)))
            $null = $sb.Append($rel).Append(' ').Append($h).Append("`n")
        }
        $script:GuestFsTestCacheKey = [Convert]::ToHexString($sha.ComputeHash([Text.Encoding]::UTF8.GetBytes($sb.ToString()))).Substring(0, 16).ToLowerInvariant()
    }
    finally { $sha.Dispose() }
    $script:GuestFsTestCacheKey
}

function Get-GuestFsTestCacheDirectory {
    $parent = if ($env:GUESTFS_TEST_IMAGE_CACHE) { $env:GUESTFS_TEST_IMAGE_CACHE } else { "/var/tmp/guestfs-test-images-$(id -u)" }
    $dir = Join-Path $parent (Get-GuestFsTestCacheKey)
    if (-not (Test-Path $dir)) {
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
        # Caches of other builds that nobody used for two days go.
        Get-ChildItem $parent -Directory -ErrorAction SilentlyContinue |
            Where-Object { $_.FullName -ne $dir -and $_.LastWriteTimeUtc -lt [datetime]::UtcNow.AddDays(-2) } |
            Remove-Item -Recurse -Force -ErrorAction SilentlyContinue
    }
    $dir
}

# Writes the host tree that goes into the base image (deterministic content).
function New-GuestFsTestTree([string] $Root) {
    New-Item -ItemType Directory -Force -Path "$Root/etc", "$Root/data/small", "$Root/data/links" | Out-Null
    Set-Content -NoNewline -Path "$Root/etc/hostname" -Value "testhost`n"
    Set-Content -Path "$Root/etc/app.conf" -Value 'name=app', 'port=8080'
    Set-Content -Path "$Root/etc/other.conf" -Value 'x=1'
    Set-Content -Path "$Root/etc/motd" -Value 'Welcome'
    1..50 | ForEach-Object { Set-Content -Path ("$Root/data/small/file{0:d2}.txt" -f $_) -Value "line one of $_", "line two of $_", "line three of $_" }
    foreach ($d in 1..20) {
        $sub = "$Root/data/tree/d$d"
        New-Item -ItemType Directory -Force -Path $sub | Out-Null
        foreach ($f in 1..99) { [IO.File]::WriteAllText("$sub/f$f.txt", "$d/$f") }
    }
    $rnd = [Random]::new(1234)
    $bytes = [byte[]]::new(3MB); $rnd.NextBytes($bytes)
    [IO.File]::WriteAllBytes("$Root/data/big.bin", $bytes)
    [IO.File]::WriteAllBytes("$Root/data/binary.bin", [byte[]](0..255))
    Set-Content -Path "$Root/data/ünïcödé näme.txt" -Value 'grüße'
    Set-Content -Path "$Root/data/space name.txt" -Value 'spaced'
    Set-Content -Path "$Root/data/.hidden" -Value 'hidden'
    New-Item -ItemType SymbolicLink -Path "$Root/data/links/rel" -Target '../small/file01.txt' | Out-Null
    New-Item -ItemType SymbolicLink -Path "$Root/data/links/abs" -Target '/etc/hostname' | Out-Null
    New-Item -ItemType SymbolicLink -Path "$Root/data/linkdir" -Target 'small' | Out-Null
    [IO.File]::WriteAllText("$Root/data/utf16.txt", "wide ✓`nsecond`n", [Text.Encoding]::Unicode)
    [IO.File]::WriteAllText("$Root/data/utf8bom.txt", "bom`n", [Text.UTF8Encoding]::new($true))
}

# The cached base image: 1 GiB sparse raw, MBR, one ext4 partition labelled gfsbase,
# holding the tree above under /etc and /data. Built once (two launches), then reused.
function Get-GuestFsBaseImage {
    $cache = Get-GuestFsTestCacheDirectory
    $img = Join-Path $cache "base-$script:BaseImageVersion.img"
    if (Test-Path $img) { return $img }
    $lock = [IO.File]::Open("$img.lock", 'OpenOrCreate', 'ReadWrite', 'None')
    try {
        if (Test-Path $img) { return $img }
        $work = Join-Path ([IO.Path]::GetTempPath()) ("guestfs-base-" + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $work | Out-Null
        try {
            New-GuestFsTestTree "$work/tree"
            $tmp = "$work/base.img"
            New-GuestDiskImage -Path $tmp -Size 1GB -FileSystem ext4 -Label gfsbase | Out-Null
            $d = Open-GuestDisk -Path $tmp -Writable -WarningAction SilentlyContinue
            try {
                Mount-GuestFs -Disk $d -Device /dev/sda1 -MountPoint /
                Copy-GuestItem -Disk $d -LocalPath "$work/tree/etc" -Destination / -Recurse
                Copy-GuestItem -Disk $d -LocalPath "$work/tree/data" -Destination / -Recurse
            }
            finally { Close-GuestDisk -Disk $d }
            Move-Item $tmp $img
        }
        finally { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }
        return $img
    }
    finally { $lock.Dispose() }
}

# A writable throw-away copy of the base image: a qcow2 overlay in $Directory.
function New-GuestFsTestOverlay([string] $Directory, [string] $Name = 'work.qcow2') {
    $base = Get-GuestFsBaseImage
    $overlay = Join-Path $Directory $Name
    & qemu-img create -q -f qcow2 -F raw -b $base $overlay
    if ($LASTEXITCODE -ne 0) { throw "qemu-img could not create an overlay of $base" }
    $overlay
}

function Get-QemuProcessIds {
    @(Get-Process -Name 'qemu-system-x86*' -ErrorAction SilentlyContinue | Where-Object {
        # zombies have exited already
        (Get-Content "/proc/$($_.Id)/stat" -ErrorAction SilentlyContinue) -notmatch '^\d+ \(.*\) Z '
    } | ForEach-Object Id)
}

# Runs one command with the module loaded on a runspace of its own, and stops it (what
# Ctrl+C does) as soon as $Until, given the running PowerShell object, returns true (or
# at the deadline). One command per PowerShell object: a stopped multi-statement batch
# would go on to its next statement on a pool thread. Returns whether the command had
# already ended when the stop came (a test that wants the stop mid-way checks it) and
# the state after the stop.
function Stop-GuestFsCommandWhen([string] $Command, [hashtable] $Parameters, [scriptblock] $Until,
    [int] $TimeoutSeconds = 240, [int] $DelayMilliseconds = 0) {
    $rs = [runspacefactory]::CreateRunspace()
    $rs.Open()
    $setup = [PowerShell]::Create()
    $setup.Runspace = $rs
    $null = $setup.AddCommand('Import-Module').AddArgument($script:ModulePath).Invoke()
    $setup.Dispose()
    $ps = [PowerShell]::Create()
    $ps.Runspace = $rs
    try {
        $null = $ps.AddCommand($Command)
        foreach ($k in $Parameters.Keys) { $null = $ps.AddParameter($k, $Parameters[$k]) }
        $run = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while (-not $run.IsCompleted -and [DateTime]::UtcNow -lt $deadline -and -not (& $Until $ps)) { Start-Sleep -Milliseconds 10 }
        $ended = $run.IsCompleted
        if ($DelayMilliseconds -gt 0) { Start-Sleep -Milliseconds $DelayMilliseconds }
        $ps.Stop()
        [pscustomobject]@{ EndedBeforeStop = $ended; State = $ps.InvocationStateInfo.State }
    }
    finally { $ps.Dispose(); $rs.Dispose() }
}

# The reference tools in the background (a suite dot-sources it when it needs it).
. $PSScriptRoot/ReferenceLane.ps1
